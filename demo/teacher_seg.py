"""The raw dense ImageNet teacher as the explorer shows it: its category map, and one pixel's
categories and ImageNet classes.

The teacher (:class:`pixelnet.teachers.DenseImageNet`, ``--model imagenet-dense``) is the ImageNet
``efficientnet_lite0`` with its own classifier applied at every cell of its ``head`` tap, the
1,000 class probabilities summed into the categories of the shipped real-photo model. It is not a
PixelNet (no hypercolumn, no MLP head), so there are no taps to attribute its prediction to: a
session whose segmentation choice is the teacher holds a :class:`TeacherSeg` next to its PixelNet
predictor and asks it for ``seg`` (the map of the segmentation panel), ``inspect`` (the pixel
inspector: the categories and the ImageNet top 5 at the pixel) and ``category_maps`` (the tap-maps
view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from pixelnet.teachers import DenseImageNet

__all__ = ["TeacherSeg"]

NOTE = ("the raw teacher is not a PixelNet: it is the backbone's ImageNet classifier at every cell of its "
        "head tap (1,000 class probabilities summed into categories, interpolated to pixels), so it has no "
        "hypercolumn taps and no tap contributions")


class TeacherSeg:
    """The dense ImageNet teacher on one working image; its backbone runs once per scale and every view
    reads its cache.

    Args:
        model: the teacher (eval mode, from :meth:`demo.models.ModelBank.reference`).
        image: the session's working ``(H, W, 3)`` uint8 image (already resized; not resized again).
        label: the menu label of the choice (shown in the inspector).
        device: where the teacher runs.
    """

    kind = "reference"

    def __init__(self, model: DenseImageNet, image: np.ndarray, *, label: str,
                 device: str | torch.device = "cpu") -> None:
        self.label = label
        self.model = model
        self.predictor = model.predictor(device=device, max_side=max(int(image.shape[0]), int(image.shape[1])))
        self.predictor.set_image(image)
        assert self.predictor.image_scale == 1.0
        self._single: np.ndarray | None = None  # the scale-1 map, read by every click

    @property
    def image(self) -> np.ndarray:
        """The ``(H, W, 3)`` uint8 image the outputs refer to."""
        assert self.predictor.image is not None
        return self.predictor.image

    @property
    def class_names(self) -> list[str]:
        """The categories (the seg classes of the teacher)."""
        return list(self.model.config.class_names)

    def seg(self, scales: Sequence[float] = (1.0,)) -> np.ndarray:
        """Category probabilities averaged over ``scales``: ``(K, H, W)`` float32 (exactly
        :meth:`pixelnet.teachers.DenseImageNetPredictor.predict`)."""
        scales = tuple(float(s) for s in scales)
        if scales == (1.0,):
            if self._single is None:
                self._single = self.predictor.predict(scales=scales)["seg"]
            return self._single
        return self.predictor.predict(scales=scales)["seg"]

    def imagenet_top(self, xw: int, yw: int, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` most probable ImageNet classes at working pixel ``(xw, yw)``: the classifier on the
        ``head`` tap interpolated there (``index``, ``wnid``, ``name``, ``category``, ``prob``)."""
        head, (hs, ws) = self.predictor.head(1.0)
        h, w = self.image.shape[:2]
        yi, xi = min(hs - 1, int((yw + 0.5) * hs / h)), min(ws - 1, int((xw + 0.5) * ws / w))  # == (yw, xw) unless tiny
        clf = self.model.classifier
        return [asdict(c) for c in clf.topk(clf.logits_at(head, yi, xi), k)]

    def category_maps(self, k: int = 6) -> list[tuple[str, float, np.ndarray]]:
        """The ``k`` categories with the largest probability mass on the image, most first:
        ``(name, mean probability, (H, W) probability map)`` at scale 1."""
        probs = self.seg()
        mass = probs.reshape(probs.shape[0], -1).mean(1)
        names = self.class_names
        return [(names[i], float(mass[i]), probs[i]) for i in np.argsort(-mass)[:k]]

    def inspect(self, xw: int, yw: int) -> dict[str, Any]:
        """What the inspector shows for working pixel ``(xw, yw)``, JSON-able.

        Returns:
            ``kind`` (``"reference"``), ``model`` (label), ``prediction`` (``classes``, ``probs``,
            ``top``, ``top_index``: the scale-1 category map at the pixel), ``prediction_vector`` (the
            probabilities), empty ``taps`` and ``contributions`` (it has no taps) and a ``note`` saying so.
        """
        h, w = self.image.shape[:2]
        if not (0 <= xw < w and 0 <= yw < h):
            raise ValueError(f"pixel ({xw}, {yw}) is outside the {w}x{h} image")
        probs = [float(p) for p in self.seg()[:, yw, xw]]
        names = self.class_names
        top = int(np.argmax(probs))
        return {
            "kind": self.kind,
            "model": self.label,
            "prediction": {"classes": names, "probs": probs, "top": names[top], "top_index": top},
            "prediction_vector": probs,
            "taps": [],
            "contributions": [],
            "note": NOTE,
        }
