"""Teach: a segmentation head fitted in seconds to a user's strokes on one image (on cached tap
maps), its uncertainty, and simulated strokes for benchmarks.

May import: ``pixelnet.engine`` (its :class:`~pixelnet.engine.Trainer`) and the core modules
(model, heads, hypercolumn, samplers, ...).
"""

from pixelnet.teach.scribbles import (
    MAX_CLASSES,
    ScribbleError,
    ScribbleResult,
    check_labels,
    fit_scribbles,
    predict_seg,
    uncertainty,
)
from pixelnet.teach.simulate import simulate_scribbles

__all__ = ["MAX_CLASSES", "ScribbleError", "ScribbleResult", "check_labels", "fit_scribbles", "predict_seg",
           "simulate_scribbles", "uncertainty"]
