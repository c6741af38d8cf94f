"""Surface-normal metrics: angular error pooled over all valid pixels of a dataset.

The protocol of Eigen & Fergus / Fouhey et al., as used in the PixelNet paper: predicted and
ground-truth normals are both renormalised to unit length, their dot product is clamped to
``[-1, 1]`` before ``acos``, and the angular errors (degrees) of every valid pixel of every
image are pooled before the statistics are taken.

Memory: the meter never stores per-pixel errors. Mean and RMSE come from running float64 sums,
the three "within t degrees" percentages from exact running counts, and the median from a
histogram of 18 000 bins of 0.01 degree (144 KB), interpolated inside the bins that hold the
middle pixels and clamped to the observed range: the median is within 0.01 degree of
``numpy.median`` of the pooled errors, and exact when all errors are equal.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["NormalsMeter", "angular_error", "mean_normal"]

WITHIN_DEGREES = (11.25, 22.5, 30.0)
BIN_DEGREES = 0.01
NUM_BINS = 18_000  # 180 degrees / 0.01


def angular_error(pred: Tensor, target: Tensor) -> Tensor:
    """Angle between two fields of 3-vectors, in degrees.

    Both are renormalised (a zero vector stays zero and so is 90 degrees from anything);
    the work is done in float64 so that identical inputs give errors below 1e-5 degree.

    Args:
        pred: ``(N, 3, H, W)`` predicted normals, any length.
        target: ``(N, 3, H, W)`` ground-truth normals, any length.

    Returns:
        ``(N, H, W)`` float64 angular errors in ``[0, 180]``.
    """
    p = F.normalize(pred.double(), dim=1)
    t = F.normalize(target.double(), dim=1)
    cos = (p * t).sum(dim=1).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.acos(cos))


def mean_normal(target: Tensor, valid: Tensor | None = None) -> Tensor:
    """The best constant normal in the mean-cosine sense: the mean of the valid unit normals,
    renormalised (it maximises the mean of ``cos`` of the angular error over all constant unit
    vectors; the constant minimising the mean *angle* is the spherical median, not this).

    Args:
        target: ``(N, 3, H, W)`` or ``(3, H, W)`` ground-truth normals, any length.
        valid: bool ``(N, H, W)`` or ``(H, W)``; ``None``: the non-zero vectors.

    Returns:
        ``(3,)`` float64 unit vector (zero if there is no valid pixel or the mean is zero).
    """
    _, target, valid = _as_batch(target, target, valid)
    t = F.normalize(target.double(), dim=1).permute(0, 2, 3, 1)[valid]  # (P, 3)
    return F.normalize(t.sum(0), dim=0) if t.numel() else torch.zeros(3, dtype=torch.float64)


class NormalsMeter:
    """Pools angular errors over all valid pixels and reports the standard statistics.

    Inputs are channels-first tensors ``(N, 3, H, W)`` (or a single ``(3, H, W)`` image) with
    the x, y, z components in the channel dimension; the meter does not care about the
    coordinate convention as long as prediction and ground truth share it.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.histogram = torch.zeros(NUM_BINS, dtype=torch.int64)
        self.count = 0
        self.sum = 0.0
        self.sum_sq = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.within = dict.fromkeys(WITHIN_DEGREES, 0)

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor, valid: Tensor | None = None) -> None:
        """Add a batch.

        Args:
            pred: predicted normals ``(N, 3, H, W)`` or ``(3, H, W)``, any length, float.
            target: ground-truth normals, same shape.
            valid: bool ``(N, H, W)`` or ``(H, W)``; pixels to evaluate. ``None`` evaluates every
                pixel whose ground-truth vector is non-zero (zero marks missing data in NYUv2).
        """
        pred, target, valid = _as_batch(pred, target, valid)
        errors = angular_error(pred, target)[valid].cpu()
        self.count += errors.numel()
        self.sum += errors.sum().item()
        self.sum_sq += errors.square().sum().item()
        if errors.numel():
            self.min = min(self.min, errors.min().item())
            self.max = max(self.max, errors.max().item())
        for t in WITHIN_DEGREES:
            self.within[t] += int((errors < t).sum())
        bins = (errors / BIN_DEGREES).long().clamp(0, NUM_BINS - 1)
        self.histogram += torch.bincount(bins, minlength=NUM_BINS)

    def median(self) -> float:
        """Median angular error in degrees (within 0.01 degree), NaN if nothing was added.

        The median of ``n`` values is the mean of the order statistics ``floor((n + 1) / 2)`` and
        ``ceil((n + 1) / 2)`` (as ``numpy.median``); each is placed inside its 0.01-degree bin by
        its rank among the bin's values, then the result is clamped to the observed range.
        """
        if self.count == 0:
            return float("nan")
        cumulative = self.histogram.cumsum(0)
        ranks = ((self.count + 1) // 2, (self.count + 2) // 2)
        value = sum(self._order_statistic(cumulative, k) for k in ranks) / 2
        return min(max(value, self.min), self.max)

    def _order_statistic(self, cumulative: Tensor, k: int) -> float:
        """Approximate k-th smallest error (1-based) from the histogram."""
        b = int(torch.searchsorted(cumulative, torch.tensor([k])))  # first bin holding >= k errors
        below = cumulative[b - 1].item() if b > 0 else 0
        return (b + (k - below - 0.5) / self.histogram[b].item()) * BIN_DEGREES

    def compute(self) -> dict[str, float]:
        """Reduce the pooled errors.

        Returns:
            ``mean``, ``median``, ``rmse``: angular error in degrees;
            ``within_11_25``, ``within_22_5``, ``within_30``: percent of pixels with error
            strictly below 11.25, 22.5 and 30 degrees. All NaN if nothing was added.
        """
        n = self.count
        if n == 0:
            nan = float("nan")
            return dict.fromkeys(("mean", "median", "rmse", "within_11_25", "within_22_5", "within_30"), nan)
        return {
            "mean": self.sum / n,
            "median": self.median(),
            "rmse": math.sqrt(self.sum_sq / n),
            "within_11_25": 100.0 * self.within[11.25] / n,
            "within_22_5": 100.0 * self.within[22.5] / n,
            "within_30": 100.0 * self.within[30.0] / n,
        }


def _as_batch(pred: Tensor, target: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.dim() == 3:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
        valid = None if valid is None else valid.unsqueeze(0)
    if pred.dim() != 4 or pred.shape[1] != 3:
        raise ValueError(f"expected normals (N, 3, H, W) or (3, H, W), got shape {tuple(pred.shape)}")
    if valid is None:
        valid = target.ne(0).any(dim=1)
    n, _, h, w = pred.shape
    if valid.dtype != torch.bool or tuple(valid.shape) != (n, h, w):
        raise ValueError(
            f"valid must be a bool mask of shape {(n, h, w)}, got {valid.dtype} {tuple(valid.shape)}"
        )
    return pred, target, valid.to(pred.device)
