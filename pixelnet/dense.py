"""Dense hypercolumn heads without a dense hypercolumn (PixelNet Sec. 3, "dense predictions").

The first layer of every head is linear in the hypercolumn: ``W h + b = sum_t W_t c_t + b``,
and bilinear interpolation is linear too. So each tap is projected by its slice ``W_t``
at the tap's own resolution and the projection is interpolated to pixels, which is
exactly the sampled path's ``W (interp c)`` but never forms the ``sum_t C_t``-wide
hypercolumn at full resolution. Rows are processed in chunks, and only the tap rows a
chunk needs are projected, so peak memory is bounded whatever the image area.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from .hypercolumn import interp_weights
from .taps import TapInfo

__all__ = ["project_rows", "rows_per_chunk"]


def _grid(pos: torch.Tensor, size: int, stride: int, offset: float, first: int, n: int) -> torch.Tensor:
    """``grid_sample`` coordinates (align_corners=True) of pixels ``pos`` in a slice of
    ``n`` cells starting at cell ``first`` of a ``size``-cell axis (clamped like the sampler)."""
    u = ((pos.to(torch.float64) - offset) / stride).clamp(0, size - 1) - first
    return 2 * u / max(n - 1, 1) - 1


def _resample_band(z: torch.Tensor, stride: int, offset: float, h_t: int, w_t: int, lo: int,
                   rows: range, width: int) -> torch.Tensor:
    """Bilinearly resample tap cells ``lo..lo+n-1`` (all columns) to the pixels of a band.

    Uses ``F.interpolate`` (fast, vectorised) where the tap grid lines up with it: an integer
    offset (``align_corners=True`` onto ``s*(n-1)+1`` pixels) or the pooling offset
    ``(s-1)/2`` (``align_corners=False`` onto ``s*n`` pixels); pixels beyond the resampled
    range take the border value, which is exactly the sampler's clamping. Other geometries
    use ``grid_sample`` with the same formula.

    Args:
        z: ``(B, D, n, w_t)`` values on the tap's cells.

    Returns:
        ``(B, D, R, W)``.
    """
    n = z.shape[2]
    aligned = float(offset).is_integer()
    if aligned or offset == (stride - 1) / 2:
        p0y, p0x = (int(offset) + stride * lo, int(offset)) if aligned else (stride * lo, 0)
        # Replicate a few cells past the bottom/right edge at tap resolution (cheap), so the
        # resampled block already covers the band: between a cell and its copy the value is
        # constant, which is the sampler's border clamping, and no full-resolution pad is needed.
        cover = (lambda k: stride * (k - 1) + 1) if aligned else (lambda k: stride * k)
        extra_y = max(0, -(-(rows.stop - p0y - cover(n)) // stride))
        extra_x = max(0, -(-(width - p0x - cover(w_t)) // stride))
        if stride > 1 and (extra_y or extra_x):
            z = F.pad(z, (0, extra_x, 0, extra_y), mode="replicate")
        size = (cover(z.shape[2]), cover(z.shape[3]))
        up = z if stride == 1 else F.interpolate(z, size=size, mode="bilinear", align_corners=aligned)
        return _crop_replicate(up, rows.start - p0y, len(rows), -p0x, width)
    gy = _grid(torch.arange(rows.start, rows.stop), h_t, stride, offset, lo, n)
    gx = _grid(torch.arange(width), w_t, stride, offset, 0, w_t)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).to(z)  # (R, W, 2) as (x, y)
    return F.grid_sample(z, grid[None].expand(z.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=True)


def _crop_replicate(up: torch.Tensor, y0: int, h: int, x0: int, w: int) -> torch.Tensor:
    """Window ``[y0, y0+h) x [x0, x0+w)`` of ``up`` ``(B, D, H', W')``, replicating its border
    where the window reaches outside (``x0 <= 0 < x0 + w`` holds for tap grids)."""
    hh, ww = up.shape[2:]
    if y0 < 0 or y0 + h > hh:
        up = up.index_select(2, torch.arange(y0, y0 + h, device=up.device).clamp(0, hh - 1))
    else:
        up = up[:, :, y0 : y0 + h]
    left, right = max(0, -x0), max(0, x0 + w - ww)
    up = up[:, :, :, max(0, x0) : min(ww, x0 + w)]
    if left or right:
        up = F.pad(up, (left, right, 0, 0), mode="replicate")
    return up


def project_rows(
    features: Mapping[str, torch.Tensor],
    taps: Sequence[TapInfo],
    weights: Sequence[torch.Tensor],
    bias: torch.Tensor | None,
    rows: range,
    width: int,
) -> torch.Tensor:
    """First-layer output ``W h(p) + b`` for every pixel of a band of rows.

    A wide tap is projected (1x1 convolution by its weight slice) at its own resolution,
    only on the tap rows the band needs; wide taps on the same grid are summed and each grid
    is resampled once to the band's pixels (:func:`_resample_band`). A narrow tap
    (``2 C_t < D``) is resampled first and projected at pixel resolution, which moves less
    data. Both orders are exact: resampling and projection are linear and commute.

    Args:
        features: tap name -> map ``(B, C_t, h_t, w_t)``.
        taps: taps in hypercolumn order.
        weights: per tap, the first-layer slice ``(D, C_t)``.
        bias: ``(D,)`` or None.
        rows: pixel rows of the band (consecutive).
        width: image width W.

    Returns:
        ``(B, R, W, D)`` (channels last, ready for the per-pixel layers), ``R = len(rows)``.
    """
    ys = torch.arange(rows.start, rows.stop)
    d = weights[0].shape[0]
    projected: dict[tuple, torch.Tensor] = {}  # grid geometry -> (B, D, n, w_t)
    narrow_feats: list[torch.Tensor] = []  # taps resampled before projecting: (B, C_t, R, W)
    narrow_weights: list[torch.Tensor] = []
    for tap, w_t in zip(taps, weights):
        feat = features[tap.name]  # (B, C_t, h_t, w_t)
        y0, y1, _ = interp_weights(ys, feat.shape[2], tap.stride, tap.offset)
        lo, hi = int(y0.min()), int(y1.max())
        band = feat[:, :, lo : hi + 1, :]  # only the tap rows this band needs
        if 2 * tap.channels < d:  # narrow tap: resampling C_t channels moves less data than D
            narrow_feats.append(_resample_band(band, tap.stride, tap.offset, *feat.shape[2:], lo, rows, width))
            narrow_weights.append(w_t)
            continue
        z = F.conv2d(band, w_t.to(feat.dtype)[:, :, None, None])  # (B, D, n, w_t)
        key = (tap.stride, tap.offset, feat.shape[2], feat.shape[3], lo)
        projected[key] = projected[key] + z if key in projected else z
    out: torch.Tensor | None = None
    if narrow_feats:
        w_n = torch.cat(narrow_weights, 1).to(narrow_feats[0].dtype)[:, :, None, None]  # (D, sum C_t, 1, 1)
        out = F.conv2d(torch.cat(narrow_feats, 1), w_n)  # (B, D, R, W)
    for (stride, offset, h_t, w_t, lo), z in projected.items():
        r = _resample_band(z, stride, offset, h_t, w_t, lo, rows, width)  # (B, D, R, W)
        out = r if out is None else out.add_(r)
    assert out is not None, "no taps"
    if bias is not None:
        out = out.add_(bias.to(out.dtype).view(1, -1, 1, 1))
    return out.permute(0, 2, 3, 1)  # (B, R, W, D)


def rows_per_chunk(width: int, channels: int, batch: int = 1, budget_mb: float = 64.0) -> int:
    """How many image rows a chunk may hold so that a ``(B, D, R, W)`` float32 block,
    and the few temporaries of its size, stay within ``budget_mb``."""
    per_row = 4 * batch * channels * width * 4  # bytes, with ~4 live copies
    return max(1, int(budget_mb * 2**20 // max(per_row, 1)))
