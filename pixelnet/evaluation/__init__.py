"""Evaluation through the predictor: benchmark metrics of a model (or a teacher) on a dataset at
full size, and the geometry baselines and boundary recall on real geometry.

May import: ``pixelnet.metrics``, ``pixelnet.data`` (datasets by name), ``pixelnet.teachers`` and
the core modules; never ``engine`` (training imports evaluation, not the other way).
"""

from pixelnet.evaluation.evaluate import (
    METRIC_KEYS,
    choose_val_size,
    evaluate,
    format_metrics,
    model_predictor,
    predict_full_size,
)
from pixelnet.evaluation.geometry import GEOMETRY_DATASETS, BoundaryRecallMeter, normals_baselines
from pixelnet.evaluation.objects import (
    FOLDER_CATEGORIES,
    ObjectMeter,
    clothing_regions,
    evaluate_photos,
    object_category,
    right_class_iou,
)

__all__ = [
    "FOLDER_CATEGORIES", "GEOMETRY_DATASETS", "METRIC_KEYS", "BoundaryRecallMeter", "ObjectMeter", "choose_val_size",
    "clothing_regions",
    "evaluate", "evaluate_photos", "format_metrics", "model_predictor", "normals_baselines", "object_category",
    "predict_full_size",
    "right_class_iou",
]
