"""Per-task losses on sampled pixels (PixelNet, Bansal et al. 2017, Sec. 3-4).

PixelNet trains on a sparse sample of pixels per image, so each loss takes the head's outputs
at the ``P`` sampled pixels, ``(P, K)``, and the targets at the same pixels:

- ``seg``: softmax cross-entropy, label 255 ignored (as in the released segmentation code);
- ``normals``: Euclidean loss on the L2-normalised prediction (Caffe's ``EuclideanLoss``),
  valid pixels only;
- ``edges``: sigmoid cross-entropy with positives and negatives balanced per batch as in HED
  (Xie & Tu 2015), label 255 ignored.

Every loss returns a scalar that is ``0`` (and still differentiable) when no pixel counts.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["IGNORE_INDEX", "LOSSES", "TASKS", "build_loss", "edges_loss", "normals_loss", "seg_loss"]

IGNORE_INDEX = 255


def seg_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Softmax cross-entropy over sampled pixels.

    Args:
        logits: ``(P, K)`` class scores.
        target: ``(P,)`` int64 labels in ``[0, K)`` or 255 (ignored).

    Returns:
        Scalar mean over the non-ignored pixels (0 if there are none).
    """
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise ValueError(
            f"expected logits (P, K) and target (P,), got {tuple(logits.shape)}, {tuple(target.shape)}"
        )
    if not (target != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target.long(), ignore_index=IGNORE_INDEX)


def normals_loss(pred: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
    """Euclidean loss on the L2-normalised prediction.

    The value is Caffe's ``EuclideanLoss``: ``1 / (2 V) * sum_i ||n_i / |n_i| - t_i||^2`` over the
    ``V`` valid pixels, i.e. half the squared L2 distance, summed over x, y, z and averaged over
    pixels. For unit targets this equals the mean of ``1 - cos(angle)``.

    Args:
        pred: ``(P, 3)`` raw predicted normals.
        target: ``(P, 3)`` unit ground-truth normals.
        valid: ``(P,)`` bool, pixels to use; ``None`` uses all.

    Returns:
        Scalar loss (0 if no pixel is valid).
    """
    if pred.dim() != 2 or pred.shape[1] != 3 or target.shape != pred.shape:
        raise ValueError(f"expected pred and target (P, 3), got {tuple(pred.shape)}, {tuple(target.shape)}")
    if valid is not None:
        if valid.dtype != torch.bool or valid.shape != pred.shape[:1]:
            raise ValueError(f"valid must be a bool (P,) mask, got {valid.dtype} {tuple(valid.shape)}")
        pred, target = pred[valid], target[valid]
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    unit = F.normalize(pred, dim=1)
    return 0.5 * (unit - target).square().sum(dim=1).mean()


def edges_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Class-balanced sigmoid cross-entropy (HED).

    Over the ``N`` non-ignored pixels, of which ``N+`` are edges and ``N-`` are not, an edge
    pixel is weighted by ``N- / N`` and a non-edge pixel by ``N+ / N``, so both classes carry
    the same total weight; the weighted sum is divided by ``N`` (HED sums instead, which only
    rescales the learning rate).

    Args:
        logits: ``(P,)`` or ``(P, 1)`` edge scores before the sigmoid.
        target: ``(P,)`` or ``(P, 1)`` labels: 1 edge, 0 non-edge, 255 ignored (uint8 or int64).

    Returns:
        Scalar loss (0 if every pixel is ignored).
    """
    logits, target = logits.reshape(-1), target.reshape(-1)
    if logits.shape != target.shape:
        raise ValueError(f"logits and target hold {logits.numel()} and {target.numel()} pixels")
    keep = target != IGNORE_INDEX
    if not keep.any():
        return logits.sum() * 0.0
    logits, labels = logits[keep], target[keep]
    if ((labels != 0) & (labels != 1)).any():
        raise ValueError("edge targets must be 0, 1 or 255")
    positive = labels == 1
    n = labels.numel()
    n_pos = int(positive.sum())
    weights = torch.where(positive, (n - n_pos) / n, n_pos / n).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(
        logits, positive.to(logits.dtype), weight=weights, reduction="sum"
    )
    return bce / n


LOSSES: dict[str, Callable[..., Tensor]] = {
    "seg": seg_loss,
    "normals": normals_loss,
    "edges": edges_loss,
}
TASKS: tuple[str, ...] = ("seg", "normals", "edges")


def build_loss(task: str) -> Callable[..., Tensor]:
    """Loss function of a task.

    Args:
        task: one of ``TASKS``.

    Returns:
        ``seg_loss``, ``normals_loss`` or ``edges_loss``.

    Raises:
        ValueError: for an unknown task.
    """
    if task not in LOSSES:
        raise ValueError(f"unknown task {task!r}; choose from {list(TASKS)}")
    return LOSSES[task]
