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

from .hypercolumn import interp_weights
from .taps import TapInfo

__all__ = ["project_rows", "rows_per_chunk"]


def _interp_axis(z: torch.Tensor, dim: int, i0: torch.Tensor, i1: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    shape = [1] * z.ndim
    shape[dim] = -1
    w = w.to(device=z.device, dtype=z.dtype).view(shape)
    return z.index_select(dim, i0.to(z.device)) * (1 - w) + z.index_select(dim, i1.to(z.device)) * w


def project_rows(
    features: Mapping[str, torch.Tensor],
    taps: Sequence[TapInfo],
    weights: Sequence[torch.Tensor],
    bias: torch.Tensor | None,
    rows: range,
    width: int,
) -> torch.Tensor:
    """First-layer output ``W h(p) + b`` for every pixel of a band of rows.

    Args:
        features: tap name -> map ``(B, C_t, h_t, w_t)``.
        taps: taps in hypercolumn order.
        weights: per tap, the first-layer slice ``(D, C_t)``.
        bias: ``(D,)`` or None.
        rows: pixel rows of the band (consecutive).
        width: image width W.

    Returns:
        ``(B, D, R, W)`` with ``R = len(rows)``.
    """
    ys = torch.arange(rows.start, rows.stop)
    xs = torch.arange(width)
    out: torch.Tensor | None = None
    for tap, w_t in zip(taps, weights):
        feat = features[tap.name]  # (B, C_t, h_t, w_t)
        y0, y1, wy = interp_weights(ys, feat.shape[2], tap.stride, tap.offset)
        lo, hi = int(y0.min()), int(y1.max())
        band = feat[:, :, lo : hi + 1, :]  # only the tap rows this band needs
        z = torch.einsum("dc,bchw->bdhw", w_t.to(feat.dtype), band)  # (B, D, n, w_t)
        z = _interp_axis(z, 2, y0 - lo, y1 - lo, wy)  # (B, D, R, w_t)
        x0, x1, wx = interp_weights(xs, feat.shape[3], tap.stride, tap.offset)
        z = _interp_axis(z, 3, x0, x1, wx)  # (B, D, R, W)
        out = z if out is None else out + z
    assert out is not None, "no taps"
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1).to(out.dtype)
    return out


def rows_per_chunk(width: int, channels: int, batch: int = 1, budget_mb: float = 64.0) -> int:
    """How many image rows a chunk may hold so that a ``(B, D, R, W)`` float32 block,
    and the few temporaries of its size, stay within ``budget_mb``."""
    per_row = 4 * batch * channels * width * 4  # bytes, with ~4 live copies
    return max(1, int(budget_mb * 2**20 // max(per_row, 1)))
