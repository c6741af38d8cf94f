"""Semantic segmentation metrics from a dataset-level confusion matrix.

The definitions are those of mmsegmentation's ``IoUMetric`` and of torchmetrics'
``MulticlassJaccardIndex(average="macro", ignore_index=255)`` (version 1.0 on): one confusion
matrix is summed over every pixel of every image, pixels labelled ``ignore_index`` are dropped,
and a class that appears neither in the prediction nor in the ground truth is left out of the
means. (This is not ``torchmetrics.segmentation.MeanIoU``, which averages per image.)
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["SegMeter", "confusion_matrix"]


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = 255) -> Tensor:
    """Confusion matrix of one batch, rows indexed by ground truth, columns by prediction.

    A single ``bincount`` over ``target * K + pred`` computes it: exact int64 counts, one pass,
    on any device, without the input checks and dtype juggling of torchmetrics'
    ``MulticlassConfusionMatrix`` (which computes the same bincount internally).

    Args:
        pred: predicted labels ``(N, H, W)`` or ``(H, W)``, integer, values in ``[0, K)``.
        target: ground-truth labels, same shape, values in ``[0, K)`` or ``ignore_index``.
        num_classes: ``K``.
        ignore_index: target label whose pixels are dropped.

    Returns:
        ``(K, K)`` int64 tensor on ``pred``'s device; entry ``[t, p]`` counts pixels of class
        ``t`` predicted as ``p``.

    Raises:
        ValueError: on mismatched shapes, non-integer inputs or labels out of range.
    """
    _check_labels(pred, target)
    keep = target != ignore_index
    pred, target = pred[keep].long(), target[keep].long()
    for name, labels in (("pred", pred), ("target", target)):
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f"{name} has labels outside [0, {num_classes}) (other than ignore_index={ignore_index})"
            )
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def _check_labels(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.dim() not in (2, 3):
        raise ValueError(f"expected (N, H, W) or (H, W) label maps, got shape {tuple(pred.shape)}")
    for name, t in (("pred", pred), ("target", target)):
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"{name} must hold integer labels, got {t.dtype}")


class SegMeter:
    """Accumulates a dataset-level confusion matrix and reduces it to accuracy and mIoU.

    Usage::

        meter = SegMeter(num_classes=21)
        for pred, target in batches:  # (N, H, W) int64 each
            meter.update(pred, target)
        meter.compute()  # {"pixel_acc": ..., "mean_acc": ..., "miou": ...}

    All values are fractions in ``[0, 1]``.
    """

    def __init__(self, num_classes: int, *, ignore_index: int = 255) -> None:
        """
        Args:
            num_classes: number of classes ``K`` (labels ``0 .. K-1``).
            ignore_index: ground-truth label that is not evaluated.
        """
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.confmat = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.confmat = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch.

        Args:
            pred: predicted labels ``(N, H, W)`` or ``(H, W)``, integer (e.g. ``logits.argmax(1)``).
            target: ground-truth labels of the same shape; ``ignore_index`` pixels are skipped.
        """
        batch = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        self.confmat += batch.cpu()

    def per_class_iou(self) -> Tensor:
        """IoU of each class, ``(K,)`` float64, NaN for a class absent from prediction and GT."""
        cm = self.confmat.double()
        tp = cm.diag()
        union = cm.sum(0) + cm.sum(1) - tp
        return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))

    def per_class_acc(self) -> Tensor:
        """Recall of each class, ``(K,)`` float64, NaN for a class absent from the ground truth."""
        cm = self.confmat.double()
        support = cm.sum(1)
        nan = torch.full_like(support, float("nan"))
        return torch.where(support > 0, cm.diag() / support.clamp(min=1), nan)

    def compute(self) -> dict[str, float]:
        """Reduce the accumulated confusion matrix.

        Returns:
            ``pixel_acc``: correct pixels / evaluated pixels;
            ``mean_acc``: mean per-class recall over classes present in the ground truth;
            ``miou``: mean IoU over classes present in the prediction or the ground truth.
            All NaN before any pixel was evaluated.
        """
        total = self.confmat.sum().item()
        pixel_acc = self.confmat.diag().sum().item() / total if total else float("nan")
        return {
            "pixel_acc": pixel_acc,
            "mean_acc": _nanmean(self.per_class_acc()),
            "miou": _nanmean(self.per_class_iou()),
        }


def _nanmean(values: Tensor) -> float:
    kept = values[~values.isnan()]
    return kept.mean().item() if kept.numel() else float("nan")
