"""Edge-detection metrics by the BSDS500 boundary benchmark protocol (ODS, OIS, AP).

Pipeline for one image, as in the Berkeley benchmark (``evaluation_bdry_image.m``,
``collect_eval_bdry.m``) preceded by the structured-edge toolbox's NMS (``edgesNmsMex``), which
is how HED and later edge detectors are evaluated:

1. edge NMS along the edge normal (radius 1, border 5, multiplier 1.01);
2. for each of 99 thresholds ``t`` in ``linspace(1/100, 99/100, 99)``: binarise ``prob >= t``
   and thin it to one pixel (morphological thinning, MATLAB ``bwmorph(.., 'thin', inf)``);
3. per annotator, a minimum-cost bipartite matching of predicted to ground-truth boundary
   pixels within ``max_dist`` times the image diagonal (``correspondPixels``). Recall counts
   matched GT pixels summed over annotators; a predicted pixel is correct if any annotator
   matches it.

Then over the dataset: ODS is the best F of the summed counts, interpolated between thresholds;
OIS sums each image's counts at that image's best threshold; AP is the area under the PR curve
interpolated at recall ``0:0.01:1`` exactly as ``collect_eval_bdry.m`` computes ``Area_PR``.

The matching (Goldberg's CSA assignment, ``correspondPixels``) and the NMS core are the compiled
extensions of the ``pyedgeeval`` package (``pyEdgeEval._lib``). Its pure-Python layers are not
imported: ``pyEdgeEval.preprocess`` imports OpenCV only to write PNGs, so the few lines that
prepare the NMS inputs (triangle smoothing and orientation, as in ``fast_nms``) live here.
Thinning uses ``skimage.morphology.thin``, the same Guo-Hall algorithm as MATLAB's ``bwmorph``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import thin

__all__ = ["EdgeCounts", "EdgeMeter", "edge_nms", "evaluate_edges"]


def _conv_tri(image: np.ndarray, r: int) -> np.ndarray:
    """Separable triangle filter with symmetric padding (Dollar's ``convTri``, float64)."""
    if r <= 1:
        p = 12 / r / (r + 2) - 2
        kernel = np.array([1.0, p, 1.0]) / (2 + p)
    else:
        kernel = np.concatenate([np.arange(1, r + 2), np.arange(r, 0, -1)]).astype(np.float64) / (r + 1) ** 2
    out = ndimage.correlate1d(image, kernel, axis=0, mode="reflect")
    return ndimage.correlate1d(out, kernel, axis=1, mode="reflect")


def _edge_orientation(edge: np.ndarray) -> np.ndarray:
    """Edge normal orientation in ``[0, pi)`` from second derivatives of a smoothed map."""
    oy, ox = np.gradient(_conv_tri(edge, 4))
    _, oxx = np.gradient(ox)
    oyy, oxy = np.gradient(oy)
    oxx = np.where(oxx == 0, 1e-5, oxx)
    return np.mod(np.arctan(oyy * np.sign(-oxy) / oxx), np.pi)


def edge_nms(prob: np.ndarray, *, radius: int = 1, border: int = 5, multiplier: float = 1.01) -> np.ndarray:
    """Non-maximum suppression of an edge-probability map (structured-edge toolbox ``edgesNms``).

    The map is smoothed with a radius-1 triangle filter, each pixel is kept only if it is not
    smaller than its two neighbours along the edge normal (times ``multiplier``), and values
    within ``border`` pixels of the image edge are faded linearly to zero.

    Args:
        prob: ``(H, W)`` float edge probabilities in ``[0, 1]`` (uint8 is read as ``x / 255``).
        radius: suppression radius along the normal.
        border: width of the faded image border.
        multiplier: suppression is conservative by this factor.

    Returns:
        ``(H, W)`` float64 thin edge map, zero off the ridges.
    """
    from pyEdgeEval._lib import nms  # compiled extension; imported on use

    prob = _as_prob(prob)
    edge = _conv_tri(prob, 1)
    return np.asarray(nms(edge, _edge_orientation(edge), r=radius, s=border, m=multiplier))


_COUNT_FIELDS = ("count_r", "sum_r", "count_p", "sum_p")
_RANGE_SLACK = 1e-5  # probabilities this far outside [0, 1] are rounding error and clipped


@dataclass
class EdgeCounts:
    """Matching counts of one image at each threshold, arrays of shape ``(T,)``.

    Recall is ``count_r / sum_r`` and precision ``count_p / sum_p``.
    """

    count_r: np.ndarray
    sum_r: np.ndarray
    count_p: np.ndarray
    sum_p: np.ndarray


def evaluate_edges(
    prob: np.ndarray,
    gt: np.ndarray,
    thresholds: np.ndarray,
    *,
    max_dist: float = 0.0075,
    apply_nms: bool = True,
    apply_thinning: bool = True,
) -> EdgeCounts:
    """Match one image's prediction to all its annotators at every threshold.

    Args:
        prob: ``(H, W)`` float edge probabilities in ``[0, 1]``.
        gt: ``(A, H, W)`` or ``(H, W)`` bool boundary maps, one per annotator.
        thresholds: ``(T,)`` increasing thresholds; a pixel is predicted if ``prob >= t``.
        max_dist: match tolerance as a fraction of the image diagonal.
        apply_nms: run :func:`edge_nms` first.
        apply_thinning: thin each binarised map to one pixel.

    Returns:
        The counts at each threshold.
    """
    prob = _as_prob(prob)
    gts = _as_annotators(gt, prob.shape)
    if apply_nms:
        prob = edge_nms(prob)
    n = len(thresholds)
    counts = EdgeCounts(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n))
    gt_total = sum(float(g.sum()) for g in gts)
    previous: np.ndarray | None = None
    matched = (0, 0)
    for i, t in enumerate(thresholds):
        pred = prob >= t
        if apply_thinning:
            pred = thin(pred)
        counts.sum_r[i] = gt_total
        counts.sum_p[i] = np.count_nonzero(pred)
        if not (counts.sum_p[i] and gt_total):  # nothing can match
            matched = (0, 0)
        elif previous is None or not np.array_equal(pred, previous):  # else reuse: same map, same counts
            matched = _match_annotators(pred, gts, max_dist)
        counts.count_r[i], counts.count_p[i] = matched
        previous = pred
    return counts


def _match_annotators(pred: np.ndarray, gts: list[np.ndarray], max_dist: float) -> tuple[int, int]:
    """Matched GT pixels summed over annotators, and predicted pixels matched by any annotator."""
    from pyEdgeEval._lib import correspond_pixels  # compiled extension; imported on use

    pred = pred.astype(np.float64)
    matched_any = np.zeros(pred.shape, dtype=bool)
    matched_gt = 0
    for g in gts:
        match_pred, match_gt, _, _ = correspond_pixels(pred, g, max_dist=max_dist)
        matched_any |= match_pred > 0
        matched_gt += np.count_nonzero(match_gt > 0)
    return matched_gt, np.count_nonzero(matched_any)


class EdgeMeter:
    """Accumulates per-image matching counts and reports ODS, OIS and AP.

    Cost: the matching dominates, about 0.1-0.4 s per threshold and annotator on a 256x256 image
    with a few thousand edge pixels, so one image with 5 annotators takes on the order of a
    minute on one core (as the MATLAB benchmark). Evaluate images in parallel with
    :func:`evaluate_edges` in a process pool and :meth:`update_counts`. ``correspondPixels``
    seeds its random graph from the clock, so counts can differ by a pixel between runs.

    Usage::

        meter = EdgeMeter()
        for prob, gt in images:  # (H, W) float in [0, 1]; (A, H, W) bool
            meter.update(prob, gt)
        meter.compute()  # {"ods": ..., "ois": ..., "ap": ..., "ods_threshold": ...}
    """

    def __init__(
        self,
        thresholds: int = 99,
        max_dist: float = 0.0075,
        apply_nms: bool = True,
        *,
        apply_thinning: bool = True,
    ) -> None:
        """
        Args:
            thresholds: number ``T`` of thresholds, ``linspace(1/(T+1), T/(T+1), T)``.
            max_dist: match tolerance as a fraction of the image diagonal.
            apply_nms: run edge NMS on each prediction (turn off for already thin maps).
            apply_thinning: thin each binarised prediction.
        """
        if thresholds < 1:
            raise ValueError(f"thresholds must be >= 1, got {thresholds}")
        self.thresholds = np.linspace(1.0 / (thresholds + 1), 1.0 - 1.0 / (thresholds + 1), thresholds)
        self.max_dist = max_dist
        self.apply_nms = apply_nms
        self.apply_thinning = apply_thinning
        self.images: list[EdgeCounts] = []

    def reset(self) -> None:
        """Forget every image added so far."""
        self.images = []

    def update(self, prob: np.ndarray, gt: np.ndarray) -> None:
        """Evaluate one image and keep its counts.

        Args:
            prob: ``(H, W)`` float edge probabilities in ``[0, 1]``.
            gt: ``(A, H, W)`` bool boundary maps of all annotators (or ``(H, W)`` for one).
        """
        self.images.append(
            evaluate_edges(
                prob,
                gt,
                self.thresholds,
                max_dist=self.max_dist,
                apply_nms=self.apply_nms,
                apply_thinning=self.apply_thinning,
            )
        )

    def update_counts(self, counts: EdgeCounts) -> None:
        """Add an image evaluated elsewhere, e.g. by :func:`evaluate_edges` in a process pool.

        Args:
            counts: counts at this meter's thresholds (``len(self.thresholds)`` entries each).
        """
        if any(len(getattr(counts, f)) != len(self.thresholds) for f in _COUNT_FIELDS):
            raise ValueError(f"counts must have {len(self.thresholds)} thresholds")
        self.images.append(counts)

    def pr_curve(self) -> dict[str, np.ndarray]:
        """Dataset precision and recall at each threshold, for plotting.

        Returns:
            ``thresholds``, ``recall``, ``precision``, ``f1``: arrays of shape ``(T,)``.
        """
        total = self._total()
        recall, precision = _ratio(total.count_r, total.sum_r), _ratio(total.count_p, total.sum_p)
        return {
            "thresholds": self.thresholds,
            "recall": recall,
            "precision": precision,
            "f1": _f1(precision, recall),
        }

    def compute(self) -> dict[str, float]:
        """Reduce the accumulated counts.

        Returns:
            ``ods``, ``ois``, ``ap`` in ``[0, 1]``, and ``ods_threshold``. NaN if no image was added.
        """
        if not self.images:
            return dict.fromkeys(("ods", "ois", "ap", "ods_threshold"), float("nan"))
        curve = self.pr_curve()
        ods_threshold, ods = _interpolated_best_f(self.thresholds, curve["recall"], curve["precision"])
        return {
            "ods": ods,
            "ois": self._ois(),
            "ap": _area_pr(curve["recall"], curve["precision"]),
            "ods_threshold": ods_threshold,
        }

    def _total(self) -> EdgeCounts:
        stacked = {f: np.sum([getattr(c, f) for c in self.images], axis=0) for f in _COUNT_FIELDS}
        return EdgeCounts(**stacked)

    def _ois(self) -> float:
        best = np.zeros(4)
        for c in self.images:
            f1 = _f1(_ratio(c.count_p, c.sum_p), _ratio(c.count_r, c.sum_r))
            i = int(np.argmax(f1))  # first best threshold, as find(F == max(F)) then ff(1)
            best += (c.count_r[i], c.sum_r[i], c.count_p[i], c.sum_p[i])
        return float(_f1(_ratio(best[2], best[3]), _ratio(best[0], best[1])))


def _interpolated_best_f(
    thresholds: np.ndarray, recall: np.ndarray, precision: np.ndarray
) -> tuple[float, float]:
    """``maxF`` of ``collect_eval_bdry.m``: best F on the polyline through (R, P), 100 steps per segment."""
    if len(thresholds) == 1:
        return float(thresholds[0]), float(_f1(precision[0], recall[0]))
    d = np.linspace(0.0, 1.0, 100)[None, :]  # MATLAB linspace(0, 1) has 100 points
    t = (thresholds[1:, None] * d + thresholds[:-1, None] * (1 - d)).ravel()
    r = (recall[1:, None] * d + recall[:-1, None] * (1 - d)).ravel()
    p = (precision[1:, None] * d + precision[:-1, None] * (1 - d)).ravel()
    f = _f1(p, r)
    i = int(np.argmax(f))  # first maximum, as the strict ">" of the MATLAB loop
    return float(t[i]), float(f[i])


def _area_pr(recall: np.ndarray, precision: np.ndarray) -> float:
    """``Area_PR`` of ``collect_eval_bdry.m``: PR curve sampled at recall 0:0.01:1, zero outside.

    ``[Ru, indR] = unique(R)`` keeps the first threshold of each distinct recall (numpy and MATLAB
    since R2013a agree); ``interp1`` is linear and NaN (here 0) outside ``[min R, max R]``. A
    curve with a single distinct recall has area 0.
    """
    r_unique, first = np.unique(recall, return_index=True)
    if len(r_unique) < 2:
        return 0.0
    samples = np.linspace(0.0, 1.0, 101)
    interp = np.interp(samples, r_unique, precision[first], left=0.0, right=0.0)
    return float(interp.sum() * 0.01)


def _ratio(count: np.ndarray | float, total: np.ndarray | float) -> np.ndarray:
    return np.asarray(count) / (np.asarray(total) + (np.asarray(total) == 0))


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    return 2 * precision * recall / (precision + recall + ((precision + recall) == 0))


def _as_prob(prob: np.ndarray) -> np.ndarray:
    prob = np.asarray(prob)
    if prob.ndim != 2:
        raise ValueError(f"expected an (H, W) edge map, got shape {prob.shape}")
    if prob.dtype == np.uint8:
        return prob / 255.0
    prob = prob.astype(np.float64)
    if prob.size and (prob.min() < -_RANGE_SLACK or prob.max() > 1 + _RANGE_SLACK):
        raise ValueError(f"edge probabilities must lie in [0, 1], got [{prob.min():g}, {prob.max():g}]")
    return np.clip(prob, 0.0, 1.0)  # rounding overshoot of resizing / averaging


def _as_annotators(gt: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
    gt = np.asarray(gt)
    if gt.ndim == 2:
        gt = gt[None]
    if gt.ndim != 3 or gt.shape[1:] != shape:
        raise ValueError(f"expected ground truth (A, {shape[0]}, {shape[1]}), got shape {gt.shape}")
    if gt.shape[0] == 0:
        raise ValueError("ground truth has no annotator")
    return [(g != 0).astype(np.float64) for g in gt]
