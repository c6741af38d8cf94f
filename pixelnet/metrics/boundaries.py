"""Occlusion-boundary recall of an edge map at a fixed budget of predicted edge pixels.

Edge detectors differ in how many pixels they fire on, so recall is measured at the same
number of predicted pixels for every model: the edge map is thinned by non-maximum
suppression (:func:`~pixelnet.metrics.edges.edge_nms`), its ``N`` strongest thinned pixels are
kept, and a ground-truth boundary pixel counts as recalled when one of them lies within
``tolerance`` pixels (Euclidean distance transform). ``N = budget x`` the number of boundary
pixels (``budget = 2`` by default). This is a coverage measure, not the BSDS one-to-one
matching: one predicted pixel may cover several boundary pixels, which is fair because every
model gets the same ``N``. The precision reported beside it is the fraction of the ``N`` kept
pixels within ``tolerance`` of a boundary pixel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .edges import edge_nms

__all__ = ["boundary_recall", "top_n_mask"]


def top_n_mask(score: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` highest-scoring pixels with a positive score.

    Ties are broken in raster order (a stable sort), so the count is exactly
    ``min(n, number of positive pixels)``.

    Args:
        score: ``(H, W)`` float scores (zero or negative: never selected).
        n: how many pixels to keep (>= 0).

    Returns:
        ``(H, W)`` bool mask.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    flat = np.asarray(score, np.float64).ravel()
    order = np.argsort(-flat, kind="stable")[:n]
    order = order[flat[order] > 0]
    mask = np.zeros(flat.shape, bool)
    mask[order] = True
    return mask.reshape(np.shape(score))


def boundary_recall(prob: np.ndarray, boundary: np.ndarray, *, tolerance: float = 2.0, budget: float = 2.0,
                    apply_nms: bool = True) -> dict[str, float]:
    """Recall of ``boundary`` by the top ``budget x |boundary|`` thinned pixels of ``prob``.

    Args:
        prob: ``(H, W)`` float edge probabilities in ``[0, 1]`` (uint8 is read as ``x / 255``).
        boundary: ``(H, W)`` bool ground-truth boundary pixels.
        tolerance: a boundary pixel is recalled by a kept pixel at Euclidean distance <= this (px).
        budget: kept pixels per boundary pixel (``N = round(budget * boundary.sum())``).
        apply_nms: thin ``prob`` with :func:`edge_nms` first (False: ``prob`` is already thin).

    Returns:
        ``recall`` and ``precision`` (fractions; NaN when there is no boundary pixel), ``n_kept``
        (kept pixels, fewer than ``n_budget`` only if the thinned map has fewer positive pixels),
        ``n_budget``, ``n_boundary``, ``tolerance`` and ``budget``.
    """
    boundary = np.asarray(boundary, bool)
    if np.shape(prob) != boundary.shape or boundary.ndim != 2:
        raise ValueError(f"prob {np.shape(prob)} and boundary {boundary.shape} must be the same (H, W)")
    if tolerance < 0 or budget <= 0:
        raise ValueError(f"tolerance must be >= 0 and budget > 0 (got {tolerance}, {budget})")
    p = np.asarray(prob)
    p = p.astype(np.float64) / 255.0 if p.dtype == np.uint8 else p.astype(np.float64)
    thin = edge_nms(p) if apply_nms else p
    n_boundary = int(boundary.sum())
    n_budget = int(round(budget * n_boundary))
    kept = top_n_mask(thin, n_budget)
    out = {"n_boundary": float(n_boundary), "n_budget": float(n_budget), "n_kept": float(kept.sum()),
           "tolerance": float(tolerance), "budget": float(budget)}
    if n_boundary == 0:
        return {"recall": float("nan"), "precision": float("nan"), **out}
    if not kept.any():
        return {"recall": 0.0, "precision": float("nan"), **out}
    to_kept = ndimage.distance_transform_edt(~kept)
    to_boundary = ndimage.distance_transform_edt(~boundary)
    recall = float((to_kept[boundary] <= tolerance).mean())
    precision = float((to_boundary[kept] <= tolerance).mean())
    return {"recall": recall, "precision": precision, **out}
