"""Reference models the paper compares PixelNet with, loadable by name like a model.

``load_reference("hed")`` (HED, edges) or ``load_reference("imagenet-dense")`` (the backbone's
ImageNet classifier at every cell, seg over categories: :mod:`pixelnet.reference.dense_imagenet`)
returns a module with ``task`` and ``predictor(device=, max_side=)``; the predictor has the
:class:`pixelnet.Predictor` interface (``set_image``, ``predict``), so evaluation
(:func:`pixelnet.engine.evaluate.evaluate`), batch prediction and the explorer run it as they run
a PixelNet model of its task.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..io import load_model
from ..model import PixelNet
from .dense_imagenet import DenseImageNet, DenseImageNetPredictor, build_dense_imagenet
from .hed import HED, HED_SIDES, HEDPredictor, build_hed, load_hed_side_state

__all__ = ["HED", "HED_SIDES", "DenseImageNet", "DenseImageNetPredictor", "HEDPredictor", "REFERENCE_MODELS",
           "build_dense_imagenet", "build_hed", "load_hed_side_state",
           "load_model_or_reference", "load_reference"]

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


def load_model_or_reference(spec: str | Path, *, device: str | torch.device = "cpu") -> PixelNet | HED | DenseImageNet:
    """What ``--model`` of the CLIs names: a reference model (``"hed"``) or a model folder.

    A name of :data:`REFERENCE_MODELS` means the reference model; a folder with that name is
    reached with a path (``./hed``).

    Args:
        spec: reference name or model directory (``model.safetensors`` + ``config.json``).
        device: where to put the model.

    Returns:
        A :class:`~pixelnet.PixelNet` or a reference model, in eval mode; both have ``task``,
        and :func:`pixelnet.engine.evaluate.evaluate` runs either.

    Raises:
        ModelFileError: for a folder that is not a model.
        FileNotFoundError: when a reference model's weights package is missing.
    """
    if isinstance(spec, str) and spec in REFERENCE_MODELS:
        return load_reference(spec, device=device)
    return load_model(spec, device=device)
