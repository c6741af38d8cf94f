"""Separable bilinear resampling of tap grids onto pixel rows and columns, in bands.

The building blocks of :mod:`pixelnet.dense`: a tap's cell ``j`` sits at pixel ``o + s j``
(:class:`pixelnet.TapInfo`); a pixel reads the continuous cell ``(p - o) / s``, clamped at the
borders exactly like the sampled path (:func:`pixelnet.sample_hypercolumns`), so dense and
sampled outputs agree. Every function works on a band of rows, so memory stays bounded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__: list[str] = []  # internal to pixelnet.dense


def _grid(pos: torch.Tensor, size: int, stride: int, offset: float, first: int, n: int) -> torch.Tensor:
    """``grid_sample`` coordinates (align_corners=True) of pixels ``pos`` in a slice of
    ``n`` cells starting at cell ``first`` of a ``size``-cell axis (clamped like the sampler)."""
    u = ((pos.to(torch.float64) - offset) / stride).clamp(0, size - 1) - first
    return 2 * u / max(n - 1, 1) - 1


def _resample_rows(z: torch.Tensor, stride: int, offset: float, h_t: int, w_t: int, lo: int,
                   rows: range, width: int, *, pad_x: bool = True) -> tuple[torch.Tensor, int]:
    """Bilinearly resample tap cells ``lo..lo+n-1`` (all columns) to the pixel rows ``rows``.

    Uses ``F.interpolate`` (fast, vectorised) where the tap grid lines up with it: an integer
    offset (``align_corners=True`` onto ``s*(n-1)+1`` pixels) or the pooling offset
    ``(s-1)/2`` plus a whole number of pixels (``align_corners=False`` onto ``s*n`` pixels,
    shifted by that number); pixels beyond the resampled
    range take the border value, which is exactly the sampler's clamping. Other geometries
    use ``grid_sample`` with the same formula.

    Args:
        z: ``(B, D, n, w_t)`` values on the tap's cells.
        pad_x: replicate cells past the right edge (at tap resolution) so that the columns
            reach pixel ``width - 1``; without it the caller clamps column indices.

    Returns:
        ``(up, x_first)``: ``up`` ``(B, D, R, W')`` whose column ``j`` is pixel ``x_first + j``
        (pixels outside take the nearest column).
    """
    n = z.shape[2]
    aligned = float(offset).is_integer()
    shift = offset - (stride - 1) / 2  # a pooling grid moved by `shift` whole pixels
    if aligned or float(shift).is_integer():
        p0 = int(offset) if aligned else int(shift)
        p0y, p0x = p0 + stride * lo, p0
        # Replicate a few cells past the bottom/right edge at tap resolution (cheap), so the
        # resampled block already covers the band: between a cell and its copy the value is
        # constant, which is the sampler's border clamping, and no full-resolution pad is needed.
        cover = (lambda k: stride * (k - 1) + 1) if aligned else (lambda k: stride * k)
        extra_y = max(0, -(-(rows.stop - p0y - cover(n)) // stride))
        extra_x = max(0, -(-(width - p0x - cover(w_t)) // stride)) if pad_x else 0
        if stride > 1 and (extra_y or extra_x):
            z = F.pad(z, (0, extra_x, 0, extra_y), mode="replicate")
        size = (cover(z.shape[2]), cover(z.shape[3]))
        up = z if stride == 1 else F.interpolate(z, size=size, mode="bilinear", align_corners=aligned)
        return _crop_rows(up, rows.start - p0y, len(rows)), p0x
    gy = _grid(torch.arange(rows.start, rows.stop), h_t, stride, offset, lo, n)
    gx = _grid(torch.arange(width), w_t, stride, offset, 0, w_t)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).to(z)  # (R, W, 2) as (x, y)
    return F.grid_sample(z, grid[None].expand(z.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=True), 0


def _resample_band(z: torch.Tensor, stride: int, offset: float, h_t: int, w_t: int, lo: int,
                   rows: range, width: int) -> torch.Tensor:
    """:func:`_resample_rows` cut (or border-replicated) to exactly the ``width`` image columns:
    ``(B, D, R, W)``."""
    up, x_first = _resample_rows(z, stride, offset, h_t, w_t, lo, rows, width)
    return _window_columns(up, x_first, width, dim=3)


def _crop_rows(up: torch.Tensor, y0: int, h: int) -> torch.Tensor:
    """Rows ``[y0, y0+h)`` of ``up`` ``(B, D, H', W')``, replicating its border rows where the
    window reaches outside."""
    hh = up.shape[2]
    if y0 < 0 or y0 + h > hh:
        return up.index_select(2, torch.arange(y0, y0 + h, device=up.device).clamp(0, hh - 1))
    return up[:, :, y0 : y0 + h]


def _window_columns(up: torch.Tensor, x_first: int, width: int, dim: int) -> torch.Tensor:
    """Image columns ``0..width-1`` of ``up`` whose index ``j`` along ``dim`` is pixel
    ``x_first + j``: a view where possible, else the border columns are replicated."""
    ww = up.shape[dim]
    if x_first == 0 and ww >= width:
        return up.narrow(dim, 0, width)
    cols = (torch.arange(width, device=up.device) - x_first).clamp_(0, ww - 1)
    return up.index_select(dim, cols)
