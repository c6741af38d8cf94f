"""Exact bilinear interpolation of tap maps along one axis, the output grid, and the moments
of interpolated features over pixels: the operators :class:`~pixelnet.features.DenseHypercolumns`
is built from (see :mod:`pixelnet.features` for why they are exact).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..hypercolumn import interp_weights
from ..taps import TapInfo

__all__ = ["TapMoments", "output_grid", "pool_moments"]

_EPS = 1e-12


def output_grid(size: tuple[int, int], stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel rows and columns of the output grid of ``stride``: ``s // 2 + s * j`` inside the image.

    Args:
        size: image size ``(H, W)``.
        stride: output stride s >= 1 (1: every pixel).

    Returns:
        ``(ys, xs)``: int64 ``(H',)`` and ``(W',)``, ``H' = ceil((H - s // 2) / s)``.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    return torch.arange(stride // 2, size[0], stride), torch.arange(stride // 2, size[1], stride)


@dataclass(frozen=True)
class _Axis:
    """Bilinear weights of output positions along one axis: value = w0 * cell[i0] + w1 * cell[i1]."""

    i0: torch.Tensor
    i1: torch.Tensor
    w0: torch.Tensor
    w1: torch.Tensor

    @staticmethod
    def of(pos: torch.Tensor, cells: int, tap: TapInfo) -> _Axis:
        i0, i1, w = interp_weights(pos, cells, tap.stride, tap.offset)
        return _Axis(i0, i1, 1 - w, w)

    def matrix(self, cells: int) -> torch.Tensor:
        """The dense ``(n, cells)`` float64 interpolation matrix."""
        a = torch.zeros(len(self.i0), cells, dtype=torch.float64)
        rows = torch.arange(len(self.i0))
        a.index_put_((rows, self.i0), self.w0.double(), accumulate=True)
        a.index_put_((rows, self.i1), self.w1.double(), accumulate=True)
        return a

    def part(self, sl: slice) -> _Axis:
        return _Axis(self.i0[sl], self.i1[sl], self.w0[sl], self.w1[sl])

    def squared(self) -> _Axis:
        return _Axis(self.i0, self.i1, self.w0**2, self.w1**2)

    def cross(self) -> _Axis:
        """Weight ``w0 * w1`` on ``i0`` (the pair (i0, i0 + 1)); zero where i0 == i1 (w1 = 0)."""
        return _Axis(self.i0, self.i0, self.w0 * self.w1, torch.zeros_like(self.w1))


def _apply(z: torch.Tensor, ax: _Axis, dim: int) -> torch.Tensor:
    """Resample ``z`` along ``dim`` with the weights ``ax``."""
    shape = [1] * z.ndim
    shape[dim] = -1
    w0, w1 = ax.w0.to(z).view(shape), ax.w1.to(z).view(shape)
    out = z.index_select(dim, ax.i0.to(z.device)).mul_(w0)
    if bool((ax.w1 != 0).any()):
        out.addcmul_(z.index_select(dim, ax.i1.to(z.device)), w1)
    return out


def _resample(z: torch.Tensor, ay: _Axis, ax: _Axis) -> torch.Tensor:
    """``(K, h, w)`` cells -> ``(K, R, W')`` at the positions of ``ay`` (rows) and ``ax`` (columns).
    Only the cell rows the band needs are touched. Columns are resampled first, at tap-row
    resolution (a gather along the contiguous axis is the slow one), then whole rows are gathered."""
    lo, hi = int(ay.i0.min()), int(ay.i1.max())
    band = z[:, lo : hi + 1]
    ay = _Axis(ay.i0 - lo, ay.i1 - lo, ay.w0, ay.w1)
    return _apply(_apply(band, ax, 2), ay, 1)


def _pixel_moments_axis(n_pixels: int, cells: int, tap: TapInfo) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Along one axis with interpolation matrix A (pixels x cells): ``a = Aᵀ1`` and the tridiagonal
    ``AᵀA`` as its diagonal ``d`` and super-diagonal ``e`` (``e[i] = (AᵀA)[i, i+1]``), float64 ``(cells,)``."""
    i0, i1, w = interp_weights(torch.arange(n_pixels), cells, tap.stride, tap.offset)
    w = w.double()
    a = torch.zeros(cells, dtype=torch.float64)
    d = torch.zeros(cells, dtype=torch.float64)
    e = torch.zeros(cells, dtype=torch.float64)
    a.index_add_(0, i0, 1 - w).index_add_(0, i1, w)
    d.index_add_(0, i0, (1 - w) ** 2).index_add_(0, i1, w**2)
    e.index_add_(0, i0, (1 - w) * w)  # zero where i0 == i1 (w = 0)
    return a, d, e


def _tridiag(z: torch.Tensor, d: torch.Tensor, e: torch.Tensor, dim: int) -> torch.Tensor:
    """Multiply ``z`` along ``dim`` by the symmetric tridiagonal matrix (d, e)."""
    shape = [1] * z.ndim
    shape[dim] = -1
    out = z * d.view(shape)
    n = z.shape[dim]
    if n > 1:
        ev = e[: n - 1].view([(n - 1) if i == dim else 1 for i in range(z.ndim)])
        out.narrow(dim, 0, n - 1).add_(z.narrow(dim, 1, n - 1) * ev)
        out.narrow(dim, 1, n - 1).add_(z.narrow(dim, 0, n - 1) * ev)
    return out


@dataclass(frozen=True)
class TapMoments:
    """Per-channel sums of one tap's interpolated features over every pixel of one or more images.

    Attributes:
        count: number of pixels.
        sum: ``(C,)`` float64 sum of the features.
        sumsq: ``(C,)`` float64 sum of their squares.
    """

    count: int
    sum: torch.Tensor
    sumsq: torch.Tensor

    @property
    def mean(self) -> torch.Tensor:
        """``(C,)`` float64 mean over the pixels."""
        return self.sum / self.count

    @property
    def std(self) -> torch.Tensor:
        """``(C,)`` float64 standard deviation over the pixels (1 for constant channels)."""
        var = (self.sumsq / self.count - self.mean**2).clamp_min(0)
        return torch.where(var > 1e-12 * (1 + self.mean**2), var.sqrt(), torch.ones_like(var))

    def __add__(self, other: TapMoments) -> TapMoments:
        return TapMoments(self.count + other.count, self.sum + other.sum, self.sumsq + other.sumsq)


def pool_moments(*moments: Mapping[str, TapMoments]) -> dict[str, TapMoments]:
    """Moments of several images pooled per tap (for a feature space shared across images)."""
    names = list(moments[0])
    if any(list(m) != names for m in moments):
        raise ValueError("moments of different taps cannot be pooled")
    out: dict[str, TapMoments] = {}
    for n in names:
        acc = moments[0][n]
        for m in moments[1:]:
            acc = acc + m[n]
        out[n] = acc
    return out
