"""Backbone registry: name -> builder. ``train/``, ``demo/`` and ``bench/`` pick backbones here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import IMAGENET_MEAN, IMAGENET_STD, Backbone
from .efficientnet import EfficientNetLite0, efficientnet_lite0
from .vgg import VGG16, load_torchvision_vgg16_state, vgg16, vgg16_bn

__all__ = [
    "BACKBONES",
    "Backbone",
    "EfficientNetLite0",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG16",
    "build_backbone",
    "efficientnet_lite0",
    "load_torchvision_vgg16_state",
    "vgg16",
    "vgg16_bn",
]

BACKBONES: dict[str, Callable[..., Backbone]] = {
    "vgg16": vgg16,
    "vgg16_bn": vgg16_bn,
    "efficientnet_lite0": efficientnet_lite0,
}


def build_backbone(name: str, **kwargs: Any) -> Backbone:
    """Build a registered backbone.

    Args:
        name: one of ``BACKBONES``.
        **kwargs: builder options (``pretrained``, and ``width``/``fc_channels`` for VGG).

    Raises:
        ValueError: for an unknown name.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
    return BACKBONES[name](**kwargs)
