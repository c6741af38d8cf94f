"""Boundary F-score of a segmentation: how well its region boundaries sit on the true ones.

mIoU is dominated by region interiors; a coarse prediction (e.g. a stride-32 classifier made
dense) can score well on it while its outlines are off by half a cell. This measure looks only at
boundaries, in the manner of the boundary F-measure of Csurka et al. (*What is a good evaluation
measure for semantic segmentation?*, BMVC 2013): a pixel is a boundary pixel of a label map when
its right or lower neighbour has another label (pixels next to an ignored one are skipped). A
predicted boundary pixel is correct when a true boundary pixel lies within ``tolerance`` pixels
(Euclidean distance transform), and a true one is recalled when a predicted one does. Counts are
pooled over images; ``F = 2PR / (P + R)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["SegBoundaryMeter", "label_boundaries"]


def label_boundaries(labels: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """Boundary pixels of a label map.

    Args:
        labels: int ``(H, W)`` labels.
        ignore_index: a label never counted (and whose neighbours make no boundary).

    Returns:
        bool ``(H, W)``: the pixel differs from its right or its lower neighbour (both known).
    """
    labels = np.asarray(labels)
    out = np.zeros(labels.shape, bool)
    known = labels != ignore_index
    right = (labels[:, :-1] != labels[:, 1:]) & known[:, :-1] & known[:, 1:]
    down = (labels[:-1] != labels[1:]) & known[:-1] & known[1:]
    out[:, :-1] |= right
    out[:-1] |= down
    return out


class SegBoundaryMeter:
    """Pooled boundary precision, recall and F-score of label maps.

    Args:
        tolerance: match distance in pixels.
        ignore_index: label of unknown ground-truth pixels (predicted boundaries there are not counted).
    """

    def __init__(self, *, tolerance: float = 2.0, ignore_index: int = 255) -> None:
        self.tolerance, self.ignore_index = float(tolerance), ignore_index
        self.reset()

    def reset(self) -> None:
        self.pred_ok = self.pred_n = self.gt_ok = self.gt_n = 0

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Add one image: ``pred`` and ``target`` int ``(H, W)`` label maps of the same classes."""
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(f"pred {pred.shape} and target {target.shape} differ in shape")
        gt_b = label_boundaries(target, self.ignore_index)
        pred_b = label_boundaries(np.where(target == self.ignore_index, self.ignore_index, pred), self.ignore_index)
        self.pred_n += int(pred_b.sum())
        self.gt_n += int(gt_b.sum())
        if gt_b.any():
            self.pred_ok += int((ndimage.distance_transform_edt(~gt_b)[pred_b] <= self.tolerance).sum())
        if pred_b.any():
            self.gt_ok += int((ndimage.distance_transform_edt(~pred_b)[gt_b] <= self.tolerance).sum())

    def compute(self) -> dict[str, float]:
        """``boundary_precision``, ``boundary_recall``, ``boundary_f`` (0 where undefined)."""
        p = self.pred_ok / self.pred_n if self.pred_n else 0.0
        r = self.gt_ok / self.gt_n if self.gt_n else 0.0
        return {"boundary_precision": p, "boundary_recall": r, "boundary_f": 2 * p * r / (p + r) if p + r else 0.0}
