"""Extra evaluation on datasets with real geometry (``middlebury-motorcycle``): baselines for
normals and occlusion-boundary recall for edges, beside the task's benchmark metrics.

- :func:`normals_baselines`: the six angular statistics of two constant predictions,
  ``facing_camera`` (every pixel ``n = (0, 0, 1)``) and ``mean_normal`` (the valid pixels' mean
  normal, renormalised: :func:`pixelnet.metrics.mean_normal`, pooled over the images).
- :class:`BoundaryRecallMeter`: :func:`pixelnet.metrics.boundary_recall` of each edge
  prediction against the sample's ``edges_gt`` (the union of its annotators), pooled over images
  (recalled / boundary pixels, within-tolerance / kept pixels); plug its :meth:`update` into
  :func:`~pixelnet.evaluation.evaluate.evaluate` as ``on_prediction``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pixelnet.metrics import NormalsMeter, boundary_recall, mean_normal

__all__ = ["GEOMETRY_DATASETS", "BoundaryRecallMeter", "normals_baselines"]

GEOMETRY_DATASETS: frozenset[str] = frozenset({"middlebury-motorcycle", "middlebury-aloe"})
"""Datasets on which ``train/eval.py`` adds these baselines and boundary recall."""


def _normals(sample: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.from_numpy(np.asarray(sample["normals"], np.float32)).permute(2, 0, 1)  # (3, H, W)
    return target, torch.from_numpy(np.asarray(sample["valid"], bool))  # (H, W)


def normals_baselines(dataset: Any, *, limit: int | None = None) -> dict[str, dict[str, float]]:
    """The normals metrics of the constant baselines on the first ``limit`` samples.

    Args:
        dataset: map-style dataset with ``normals`` float ``(H, W, 3)`` and ``valid`` bool ``(H, W)``.
        limit: number of samples (None: all).

    Returns:
        ``{"facing_camera": metrics, "mean_normal": metrics}``, each with the keys of
        :class:`~pixelnet.metrics.NormalsMeter`; ``mean_normal`` also has ``x``, ``y``, ``z``
        (the constant used).
    """
    total = len(dataset) if limit is None else min(limit, len(dataset))
    total_sum = torch.zeros(3, dtype=torch.float64)
    for i in range(total):
        target, valid = _normals(dataset[i])
        total_sum += mean_normal(target, valid) * int(valid.sum())  # mean_normal is sum / |sum|
    constant = {"facing_camera": torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                "mean_normal": torch.nn.functional.normalize(total_sum, dim=0)}
    meters = {k: NormalsMeter() for k in constant}
    for i in range(total):
        target, valid = _normals(dataset[i])
        for k, c in constant.items():
            meters[k].update(c.to(target.dtype)[:, None, None].expand_as(target), target, valid)
    out = {k: m.compute() for k, m in meters.items()}
    out["mean_normal"].update(zip("xyz", (float(v) for v in constant["mean_normal"]), strict=True))
    return out


class BoundaryRecallMeter:
    """Pools :func:`~pixelnet.metrics.boundary_recall` over images.

    Args:
        tolerance: match distance (px).
        budget: kept thinned edge pixels per boundary pixel.
    """

    def __init__(self, *, tolerance: float = 2.0, budget: float = 2.0) -> None:
        self.tolerance, self.budget = tolerance, budget
        self.recalled = self.boundary = self.precise = self.kept = 0.0

    def update(self, sample: dict[str, Any], prob: np.ndarray) -> None:
        """Add one image: ``prob`` ``(H, W)`` edge probabilities, ``sample["edges_gt"]`` bool ``(A, H, W)``."""
        gt = np.asarray(sample["edges_gt"], bool).any(axis=0)
        r = boundary_recall(prob, gt, tolerance=self.tolerance, budget=self.budget)
        if r["n_boundary"]:
            self.recalled += r["recall"] * r["n_boundary"]
            self.boundary += r["n_boundary"]
        if r["n_kept"]:
            self.precise += r["precision"] * r["n_kept"]
            self.kept += r["n_kept"]

    def compute(self) -> dict[str, float]:
        """``boundary_recall`` and ``boundary_precision`` (fractions, NaN when empty), ``tolerance``, ``budget``."""
        nan = float("nan")
        return {"boundary_recall": self.recalled / self.boundary if self.boundary else nan,
                "boundary_precision": self.precise / self.kept if self.kept else nan,
                "tolerance": float(self.tolerance), "budget": float(self.budget)}
