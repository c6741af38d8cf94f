"""A *where* model as the explorer's segmentation: categories and ``person`` from the same backbone pass.

A *where* model (issue #25, :mod:`pixelnet.objects`) is a PixelNet whose ``config.what`` names a
teacher (``imagenet-dense``) and whose classes are ``background``, ``object``, ``person``. What the
explorer shows is not those three classes but :func:`pixelnet.objects.name_objects` of them and the
backbone's own ImageNet classifier applied to the ``head`` tap the session's predictor already holds
(no second backbone pass): probabilities over the categories and ``person``. Its taps, tap maps and
exact Shapley contributions are those of the *where* model (over its three classes); switching taps
off changes the *where* part only, the categories read the ``head`` tap as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pixelnet.model import PixelNet
from pixelnet.objects import ObjectModel, head_categories, name_objects
from pixelnet.predictor import Predictor
from pixelnet.teachers import ImageNetClassifier, load_imagenet_classifier

__all__ = ["NOTE", "WhereSeg", "is_where"]

NOTE = ("a where model: the tap contributions explain its own background/object/person probabilities; the "
        "category comes from the backbone's ImageNet classifier on the same head tap, pooled over each object "
        "region")


def is_where(model: PixelNet | None) -> bool:
    """Whether ``model`` is a *where* model (its config names the teacher of its objects)."""
    return model is not None and model.task == "seg" and getattr(model.config, "what", None) is not None


class WhereSeg:
    """The categories of a *where* model (the session predictor's ``seg`` model) on the predictor's image.

    Args:
        predictor: the session's predictor; its ``seg`` model is the *where* model.
        classifier: the ImageNet classifier of the model's backbone (None: the model's own is loaded).

    Raises:
        ValueError: the model's classes are not the *where* classes, its backbone has no ``head`` tap,
            or no classifier ships for its backbone.
    """

    kind = "where"

    def __init__(self, predictor: Predictor, classifier: ImageNetClassifier | None = None) -> None:
        where = predictor.models["seg"]
        if classifier is None:
            try:
                classifier = load_imagenet_classifier(where.config.backbone)
            except FileNotFoundError as e:
                raise ValueError(f"the where model needs its backbone's ImageNet classifier: {e}") from e
        self.objects = ObjectModel(where, classifier)  # checks the classes and the tap
        self.predictor = predictor
        self.classifier = classifier.to(predictor.device)
        self._categories: dict[tuple[float, ...], np.ndarray] = {}

    @property
    def class_names(self) -> list[str]:
        """The classes shown: the categories, then ``person``."""
        return list(self.objects.config.class_names)

    @torch.no_grad()
    def categories(self, scales: Sequence[float] = (1.0,)) -> np.ndarray:
        """float32 ``(K, H, W)`` the classifier's category probabilities from the cached ``head`` tap."""
        key = tuple(float(s) for s in scales)
        if key not in self._categories:
            self._categories[key] = head_categories(self.predictor, self.classifier, key)
        return self._categories[key]

    def seg(self, where: np.ndarray, scales: Sequence[float] = (1.0,)) -> np.ndarray:
        """float32 ``(K + 1, H, W)``: :func:`name_objects` of the *where* probabilities ``where`` ``(3, H, W)``."""
        return name_objects(where, self.categories(scales), self.classifier.categories)

    def inspect(self, d: dict[str, Any], seg: np.ndarray, xw: int, yw: int) -> dict[str, Any]:
        """The inspector's ``seg`` entry: ``d`` (the *where* model's own, with its exact Shapley
        contributions) with its prediction moved to ``where`` and ``prediction`` the categories and
        ``person`` of ``seg`` ``(K + 1, H, W)`` at working pixel ``(xw, yw)``."""
        probs = [float(p) for p in seg[:, yw, xw]]
        names = self.class_names
        top = int(np.argmax(probs))
        out = dict(d)
        out["where"] = d["prediction"]  # what the contributions explain (its top: the where argmax)
        out["prediction"] = {"classes": names, "probs": probs, "top": names[top], "top_index": top}
        out["kind"] = self.kind
        out["note"] = "; ".join(n for n in (d.get("note", ""), NOTE) if n)
        return out
