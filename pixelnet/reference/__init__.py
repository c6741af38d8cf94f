"""Moved to :mod:`pixelnet.teachers` (kept for one release; import from there).

May import: ``pixelnet.teachers`` and ``pixelnet.zoo`` only.
"""

from pixelnet.teachers import (
    HED,
    HED_SIDES,
    REFERENCE_MODELS,
    DenseImageNet,
    DenseImageNetPredictor,
    HEDPredictor,
    build_dense_imagenet,
    build_hed,
    load_hed_side_state,
    load_reference,
)
from pixelnet.zoo import load_model_or_reference

__all__ = ["HED", "HED_SIDES", "REFERENCE_MODELS", "DenseImageNet", "DenseImageNetPredictor", "HEDPredictor",
           "build_dense_imagenet", "build_hed", "load_hed_side_state", "load_model_or_reference", "load_reference"]
