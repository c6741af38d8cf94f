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


def project_rows(
    features: Mapping[str, torch.Tensor],
    taps: Sequence[TapInfo],
    weights: Sequence[torch.Tensor],
    bias: torch.Tensor | None,
    rows: range,
    width: int,
) -> torch.Tensor:
    """First-layer output ``W h(p) + b`` for every pixel of a band of rows.

    Each tap is projected at its own resolution (only the tap rows the band needs) and
    the projection is bilinearly resampled to the band's pixels with ``grid_sample``
    (``align_corners=True`` on cell centres and border clamping: the same formula as
    :func:`pixelnet.hypercolumn.interp_weights`). Taps on the same grid are summed before
    resampling.

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
    xs = torch.arange(width)
    projected: dict[tuple, torch.Tensor] = {}  # (grid geometry) -> (B, D, n, w_t)
    for tap, w_t in zip(taps, weights):
        feat = features[tap.name]  # (B, C_t, h_t, w_t)
        y0, y1, _ = interp_weights(ys, feat.shape[2], tap.stride, tap.offset)
        lo, hi = int(y0.min()), int(y1.max())
        z = torch.einsum("dc,bchw->bdhw", w_t.to(feat.dtype), feat[:, :, lo : hi + 1, :])  # (B, D, n, w_t)
        key = (tap.stride, tap.offset, feat.shape[2], feat.shape[3], lo, hi)
        projected[key] = projected[key] + z if key in projected else z
    out: torch.Tensor | None = None
    for (stride, offset, h_t, w_t, lo, hi), z in projected.items():
        gy = _grid(ys, h_t, stride, offset, lo, hi - lo + 1)
        gx = _grid(xs, w_t, stride, offset, 0, w_t)
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).to(z)  # (R, W, 2) as (x, y)
        r = F.grid_sample(z, grid[None].expand(z.shape[0], -1, -1, -1), mode="bilinear",
                          padding_mode="border", align_corners=True)  # (B, D, R, W)
        out = r if out is None else out.add_(r)
    assert out is not None, "no taps"
    out = out.permute(0, 2, 3, 1)  # (B, R, W, D)
    if bias is not None:
        out = out + bias.to(out.dtype)
    return out


def rows_per_chunk(width: int, channels: int, batch: int = 1, budget_mb: float = 64.0) -> int:
    """How many image rows a chunk may hold so that a ``(B, D, R, W)`` float32 block,
    and the few temporaries of its size, stay within ``budget_mb``."""
    per_row = 4 * batch * channels * width * 4  # bytes, with ~4 live copies
    return max(1, int(budget_mb * 2**20 // max(per_row, 1)))
