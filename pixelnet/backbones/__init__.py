"""Backbone registry: name -> builder. ``train/``, ``demo/`` and ``bench/`` pick backbones here.

May import: ``pixelnet.taps`` only (the bottom of the library).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import IMAGENET_MEAN, IMAGENET_STD, Backbone
from .efficientnet import EfficientNetLite0, efficientnet_lite0, lite0_weights_path
from .vgg import (
    HED_BSDS_MEAN_BGR,
    VGG16,
    VGG_WEIGHTS,
    hed_bsds_weights_path,
    load_hed_bsds_state,
    load_torchvision_vgg16_state,
    read_hed_bsds_h5,
    vgg16,
    vgg16_bn,
)

__all__ = [
    "BACKBONES",
    "BACKBONE_WEIGHTS",
    "Backbone",
    "EfficientNetLite0",
    "HED_BSDS_MEAN_BGR",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG16",
    "VGG_WEIGHTS",
    "build_backbone",
    "efficientnet_lite0",
    "hed_bsds_weights_path",
    "lite0_weights_path",
    "load_hed_bsds_state",
    "load_torchvision_vgg16_state",
    "read_hed_bsds_h5",
    "vgg16",
    "vgg16_bn",
]

BACKBONES: dict[str, Callable[..., Backbone]] = {
    "vgg16": vgg16,
    "vgg16_bn": vgg16_bn,
    "efficientnet_lite0": efficientnet_lite0,
}

BACKBONE_WEIGHTS: dict[str, tuple[str, ...]] = {
    "vgg16": VGG_WEIGHTS,
    "vgg16_bn": ("imagenet",),
    "efficientnet_lite0": ("imagenet",),
}
"""Named weight sets per backbone, the first the default. A non-default set is chosen with the
builder option ``weights=NAME`` (recorded in ``ModelConfig.backbone_kwargs``, so that a model
saved without its frozen backbone rebuilds it from the same weights)."""


def build_backbone(name: str, **kwargs: Any) -> Backbone:
    """Build a registered backbone.

    Args:
        name: one of ``BACKBONES``.
        **kwargs: builder options (``pretrained``; ``width``/``fc_channels``/``weights`` for VGG).

    Raises:
        ValueError: for an unknown name.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
    return BACKBONES[name](**kwargs)
