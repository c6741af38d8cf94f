"""The raw dense ImageNet teacher as a segmentation model: categories at every pixel, no training.

:class:`DenseImageNet` is the ImageNet ``efficientnet_lite0`` with its own classifier applied at
every cell of the ``head`` tap (:mod:`pixelnet.teachers.imagenet`); its "segmentation" is the per-pixel
category probability map. It is loadable by name like HED (``--model imagenet-dense``), so
evaluation and batch prediction run it as they run a PixelNet seg model, and the distilled head
(``--data real-categories``) is compared with it on the same data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from pixelnet.backbones import build_backbone
from pixelnet.device import pick_device
from pixelnet.image import fit_max_side
from pixelnet.teachers.imagenet import ClassScore, ImageNetClassifier, load_imagenet_classifier

__all__ = ["DENSE_IMAGENET_SCALES", "DenseImageNet", "DenseImageNetPredictor", "TeacherConfig", "build_dense_imagenet"]

DENSE_IMAGENET_SCALES: tuple[float, ...] = (1.0, 1.5)
"""Scales the teacher averages by default: stride-32 cells are coarse, a second, finer grid helps."""


@dataclass
class TeacherConfig:
    """What evaluation reads of a seg model: its number of outputs and their names."""

    class_names: list[str] = field(default_factory=list)
    task: str = "seg"

    @property
    def num_outputs(self) -> int:
        return len(self.class_names)


class DenseImageNet(nn.Module):
    """ImageNet backbone + its classifier at every cell: per-pixel category probabilities.

    Args:
        backbone: the ImageNet ``efficientnet_lite0`` (pretrained, unchanged).
        classifier: its ImageNet classifier (:func:`pixelnet.teachers.imagenet.load_imagenet_classifier`).
    """

    task = "seg"

    def __init__(self, *, backbone: nn.Module, classifier: ImageNetClassifier) -> None:
        super().__init__()
        self.backbone, self.classifier = backbone, classifier
        self.config = TeacherConfig(class_names=list(classifier.categories))
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.std).view(1, 3, 1, 1), persistent=False)

    def head(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> the classifier's tap ``(B, 1280, H/32, W/32)``."""
        name = self.classifier.tap.name
        return self.backbone((images - self.mean) / self.std, [name])[name]

    def predictor(self, *, device: str | torch.device = "auto", max_side: int = 1024) -> DenseImageNetPredictor:
        return DenseImageNetPredictor(self, device=device, max_side=max_side)


def build_dense_imagenet() -> DenseImageNet:
    """The ImageNet ``efficientnet_lite0`` and its classifier, from the offline weights package."""
    return DenseImageNet(backbone=build_backbone("efficientnet_lite0", pretrained=True),
                         classifier=load_imagenet_classifier("efficientnet_lite0")).eval()


class DenseImageNetPredictor:
    """Per-pixel categories and per-pixel ImageNet top-k, with the :class:`pixelnet.Predictor`
    interface (``set_image``, ``predict``, ``image_scale``, ``tasks``).

    Args:
        model: the teacher.
        device: ``"auto"`` or an explicit device.
        max_side: the longer image side is resized down to this before prediction.
    """

    def __init__(self, model: DenseImageNet, *, device: str | torch.device = "auto", max_side: int = 1024) -> None:
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.max_side = max_side
        self.image: np.ndarray | None = None
        self.image_scale = 1.0
        self._heads: dict[float, tuple[torch.Tensor, tuple[int, int]]] = {}

    @property
    def tasks(self) -> list[str]:
        return ["seg"]

    def set_image(self, image: np.ndarray | Image.Image) -> np.ndarray:
        """Set the image (``(H, W, 3)`` uint8 RGB); returns the possibly downsized image predictions refer to."""
        self.image, self.image_scale = fit_max_side(image, self.max_side)
        self._heads.clear()
        return self.image

    @torch.no_grad()
    def head(self, scale: float = 1.0) -> tuple[torch.Tensor, tuple[int, int]]:
        """The ``head`` tap ``(1, 1280, h, w)`` at ``scale`` and the input size ``(H_s, W_s)`` it was computed on."""
        if self.image is None:
            raise RuntimeError("call set_image() first")
        if float(scale) not in self._heads:
            h, w = self.image.shape[:2]
            tap = self.model.classifier.tap.stride
            size = (max(tap, round(h * scale)), max(tap, round(w * scale)))
            x = torch.from_numpy(np.array(self.image, dtype=np.uint8)).permute(2, 0, 1)[None].float().div(255)
            if size != (h, w):
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
            self._heads[float(scale)] = (self.model.head(x.to(self.device)), size)
        return self._heads[float(scale)]

    @torch.no_grad()
    def predict(self, image: np.ndarray | Image.Image | None = None, *,
                scales: Sequence[float] = DENSE_IMAGENET_SCALES, tasks: Iterable[str] | None = None
                ) -> dict[str, np.ndarray]:
        """Category probabilities averaged over ``scales``.

        Returns:
            ``{"seg": (K, H', W') float32}``, ``K`` = the categories.
        """
        if image is not None:
            self.set_image(image)
        if self.image is None:
            raise RuntimeError("call set_image() first")
        wanted = list(tasks) if tasks is not None else ["seg"]
        if any(t != "seg" for t in wanted):
            raise ValueError(f"the dense ImageNet teacher predicts seg only, not {[t for t in wanted if t != 'seg']}")
        if not scales:
            raise ValueError("no scales given")
        heads = [self.head(s) for s in scales]
        probs = self.model.classifier.category_probs([h for h, _ in heads], [s for _, s in heads],
                                                     tuple(self.image.shape[:2]))
        return {"seg": probs[0].cpu().numpy()} if wanted else {}

    @torch.no_grad()
    def topk(self, y: int, x: int, *, k: int = 5, scale: float = 1.0) -> list[ClassScore]:
        """The ``k`` most probable ImageNet classes at image pixel ``(y, x)`` (the tap interpolated there)."""
        head, (hs, ws) = self.head(scale)
        h, w = self.image.shape[:2]  # type: ignore[union-attr]
        ys, xs = min(hs - 1, round(y * hs / h)), min(ws - 1, round(x * ws / w))
        return self.model.classifier.topk(self.model.classifier.logits_at(head, ys, xs), k)
