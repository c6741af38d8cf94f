"""Evaluation metrics of the three PixelNet tasks, with one interface.

Every meter accumulates over a dataset with ``update(...)``, reduces with ``compute() -> dict``
and starts over with ``reset()``:

- ``seg``: :class:`SegMeter` -> ``pixel_acc``, ``mean_acc``, ``miou`` (fractions);
- ``normals``: :class:`NormalsMeter` -> ``mean``, ``median``, ``rmse`` (degrees),
  ``within_11_25``, ``within_22_5``, ``within_30`` (percent);
- ``edges``: :class:`EdgeMeter` -> ``ods``, ``ois``, ``ap`` (BSDS protocol), ``ods_threshold``.

Per-image helpers: :func:`boundary_recall` (occlusion-boundary recall at a fixed budget of
thinned edge pixels) and :func:`mean_normal` (the best constant normal baseline).

May import: numpy, scipy, torch and pyEdgeEval only (nothing else of ``pixelnet``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .boundaries import boundary_recall, top_n_mask
from .edges import EdgeCounts, EdgeMeter, edge_nms, evaluate_edges
from .normals import NormalsMeter, angular_error, mean_normal
from .seg_boundaries import SegBoundaryMeter
from .segmentation import SegMeter, confusion_matrix

__all__ = [
    "METERS",
    "EdgeCounts",
    "EdgeMeter",
    "Meter",
    "NormalsMeter",
    "SegBoundaryMeter",
    "SegMeter",
    "angular_error",
    "boundary_recall",
    "build_meter",
    "confusion_matrix",
    "edge_nms",
    "evaluate_edges",
    "mean_normal",
    "top_n_mask",
]


class Meter(Protocol):
    """What every meter provides."""

    def update(self, *args: Any, **kwargs: Any) -> None: ...

    def compute(self) -> dict[str, float]: ...

    def reset(self) -> None: ...


METERS: dict[str, Callable[..., Meter]] = {
    "seg": SegMeter,
    "normals": NormalsMeter,
    "edges": EdgeMeter,
}


def build_meter(task: str, **kwargs: Any) -> Meter:
    """Build the meter of a task.

    Args:
        task: ``"seg"``, ``"normals"`` or ``"edges"``.
        **kwargs: constructor options (``num_classes`` is required for ``seg``; ``thresholds``,
            ``max_dist``, ``apply_nms`` for ``edges``; none for ``normals``).

    Returns:
        A fresh meter.

    Raises:
        ValueError: for an unknown task.
    """
    if task not in METERS:
        raise ValueError(f"unknown task {task!r}; choose from {list(METERS)}")
    return METERS[task](**kwargs)
