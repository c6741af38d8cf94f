"""Every model the CLIs' ``--model`` names: a reference teacher by name (``hed``,
``imagenet-dense``), a PixelNet model folder, or a *where* model folder, which comes wrapped with
the teacher that names its objects (:class:`pixelnet.objects.ObjectModel`)."""

from __future__ import annotations

from pathlib import Path

import torch

from pixelnet.io import load_model
from pixelnet.model import PixelNet
from pixelnet.objects import ObjectModel, object_model
from pixelnet.teachers import HED, REFERENCE_MODELS, DenseImageNet, load_reference

__all__ = ["load_model_or_reference"]


def load_model_or_reference(spec: str | Path, *,
                            device: str | torch.device = "cpu") -> PixelNet | HED | DenseImageNet | ObjectModel:
    """What ``--model`` of the CLIs names: a reference model (``"hed"``) or a model folder.

    A name of :data:`REFERENCE_MODELS` means the reference model; a folder with that name is
    reached with a path (``./hed``).

    Args:
        spec: reference name or model directory (``model.safetensors`` + ``config.json``).
        device: where to put the model.

    Returns:
        A :class:`~pixelnet.PixelNet`, a reference model, or (for a *where* model, whose config
        names a teacher in ``what``) an :class:`~pixelnet.objects.ObjectModel`, in eval mode; all
        have ``task``, and :func:`pixelnet.evaluation.evaluate` runs any of them.

    Raises:
        ModelFileError: for a folder that is not a model.
        FileNotFoundError: when a reference model's weights package is missing.
    """
    if isinstance(spec, str) and spec in REFERENCE_MODELS:
        return load_reference(spec, device=device)
    model = load_model(spec, device=device)
    if model.config.what is not None:
        return object_model(model).to(device).eval()
    return model
