"""Teachers: models with published weights that label or judge images, loadable by name like a model.

- HED (:mod:`~pixelnet.teachers.hed`), the paper's reference edge detector;
- the backbone's ImageNet classifier at every cell (:mod:`~pixelnet.teachers.imagenet`,
  :mod:`~pixelnet.teachers.dense_imagenet`) and the WordNet table of its categories
  (:mod:`~pixelnet.teachers.imagenet_categories`);
- the person model (:mod:`~pixelnet.teachers.person`) and the salient-object model
  (:mod:`~pixelnet.teachers.salient`), used at training time only.

``load_reference("hed")`` (edges) or ``load_reference("imagenet-dense")`` (seg over categories)
returns a module with ``task`` and ``predictor(device=, max_side=)``; the predictor has the
:class:`pixelnet.Predictor` interface (``set_image``, ``predict``), so evaluation
(:func:`pixelnet.evaluation.evaluate`), batch prediction and the explorer run it as they run
a PixelNet model of its task.

May import: ``pixelnet.fetch`` (where fetched weights live) and the core modules (backbones,
hypercolumn, image, device, io, model); never ``datasets``, ``synth``, ``distill``, ``data`` or ``engine``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pixelnet.teachers.dense_imagenet import DenseImageNet, DenseImageNetPredictor, build_dense_imagenet
from pixelnet.teachers.hed import HED, HED_SIDES, HEDPredictor, build_hed, load_hed_side_state
from pixelnet.teachers.imagenet import ClassScore, ImageNetClassifier, load_imagenet_classifier, resample_to_pixels
from pixelnet.teachers.imagenet_categories import (
    CATEGORIES,
    CATEGORY_ANCHORS,
    ImageNetClass,
    category_index,
    category_of,
    imagenet_classes,
)
from pixelnet.teachers.imagenet_categories import TABLE as CATEGORY_TABLE
from pixelnet.teachers.person import PersonTeacher, default_person_model
from pixelnet.teachers.salient import SalientTeacher, salient_model_path

__all__ = [
    "CATEGORIES", "CATEGORY_ANCHORS", "CATEGORY_TABLE", "HED", "HED_SIDES", "REFERENCE_MODELS", "ClassScore",
    "DenseImageNet", "DenseImageNetPredictor", "HEDPredictor", "ImageNetClass", "ImageNetClassifier",
    "PersonTeacher", "SalientTeacher", "build_dense_imagenet", "build_hed", "category_index", "category_of",
    "default_person_model",
    "imagenet_classes", "load_hed_side_state", "load_imagenet_classifier",
    "load_reference", "resample_to_pixels", "salient_model_path",
]

REFERENCE_MODELS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "hed": (build_hed, "HED (reference, BSDS)"),
    "imagenet-dense": (build_dense_imagenet, "ImageNet classes, dense (raw teacher)"),
}
"""Name -> (builder with its pretrained weights, label for menus)."""


def load_reference(name: str, *, device: str | torch.device = "cpu") -> HED | DenseImageNet:
    """Build a reference model with its published weights, in eval mode.

    Args:
        name: one of :data:`REFERENCE_MODELS` (``"hed"``).
        device: where to put it.

    Raises:
        ValueError: for an unknown name.
        FileNotFoundError: when its weights package is not installed.
    """
    if name not in REFERENCE_MODELS:
        raise ValueError(f"unknown reference model {name!r}; choose from {sorted(REFERENCE_MODELS)}")
    return REFERENCE_MODELS[name][0]().to(device).eval()
