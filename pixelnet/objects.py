"""Segmentation of real photos factorised into *where* (a PixelNet model) and *what* (the teacher).

A *where* model (``ModelConfig.what == "imagenet-dense"``, classes ``background``, ``object``,
``person``; trained with ``--data real-objects``, :mod:`pixelnet.distill.real_objects`) says where
the objects, the people and the background are, pixel-accurately. What each object is comes from
the backbone's own ImageNet classifier applied densely to the same ``head`` tap the *where* head
reads (:class:`pixelnet.teachers.ImageNetClassifier`): the same backbone pass, no second one.
A 1,000-class teacher generalises to objects a few hundred photos never show; a head re-learning
*what* from those photos does not (issue #25).

:func:`name_objects` combines the two into probabilities over the categories and ``person``:

- each connected object region takes the teacher's category probabilities pooled over it
  (``other`` left out while any named category has mass there), except where a second named
  category is confident over a large part of the region (several kinds of things in one mask):
  those pixels keep their own probabilities;
- ``person`` is the *where* model's person probability, and also the object probability wherever
  the object is named clothing (:data:`PERSON_CATEGORIES`; a whole region, or the pixels of a
  split region that keep their own): on the train and val photos, 11 of the 14 salient regions
  named clothing are people, and 11 of the 13 people are named clothing (issue #25);
- background pixels take the teacher's scene category (landscape, building, plant) where it is
  confident, else ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from pixelnet.model import PixelNet
from pixelnet.predictor import Predictor
from pixelnet.teachers import ImageNetClassifier, load_imagenet_classifier
from pixelnet.teachers.dense_imagenet import TeacherConfig

__all__ = ["OBJECT_TEACHERS", "PERSON_CATEGORIES", "SCENE_CATEGORIES", "WHERE_CLASSES", "ObjectModel",
           "ObjectsPredictor", "head_categories", "name_objects", "object_model"]

WHERE_CLASSES: tuple[str, ...] = ("background", "object", "person")
"""The classes of a *where* model, in order."""

OBJECT_TEACHERS: tuple[str, ...] = ("imagenet-dense",)
"""Values of ``ModelConfig.what``: the teachers that can name a *where* model's objects."""

SCENE_CATEGORIES: tuple[str, ...] = ("landscape", "building", "plant")
"""Categories a background pixel may take (where the teacher is confident)."""

PERSON_CATEGORIES: tuple[str, ...] = ("clothing",)
"""Categories that make an object pixel a person (see the module docstring)."""

OTHER = "other"
PERSON = "person"


def name_objects(where: np.ndarray, categories: np.ndarray, names: Sequence[str], *,
                 scene_confidence: float = 0.5, split_confidence: float = 0.5, split_share: float = 0.25,
                 min_region: int = 16, person_categories: Sequence[str] = PERSON_CATEGORIES) -> np.ndarray:
    """Category and person probabilities from *where* and *what* (see the module docstring).

    Args:
        where: float ``(3, H, W)`` probabilities of :data:`WHERE_CLASSES`.
        categories: float ``(K, H, W)`` the teacher's category probabilities (summing to 1 over K).
        names: the K category names (one of them ``other``).
        scene_confidence: least teacher probability for a background pixel to take a scene category.
        split_confidence: least probability of a second category at a pixel of an object region ...
        split_share: ... over at least this share of the region, for those pixels to keep their own.
        min_region: object regions smaller than this (pixels) take their pixels' own probabilities.
        person_categories: object pixels named one of these are a person.

    Returns:
        float32 ``(K + 1, H, W)``: the K categories, then ``person``; summing to 1 over the first axis.
    """
    from scipy import ndimage

    if where.shape[0] != len(WHERE_CLASSES) or where.shape[1:] != categories.shape[1:]:
        raise ValueError(f"where {where.shape} and categories {categories.shape} do not match")
    names = list(names)
    k = len(names)
    other = names.index(OTHER)
    named = np.array([i != other for i in range(k)])
    q = categories.astype(np.float32, copy=False)
    bg, obj, person = where[0], where[1], where[2]
    what = q  # per pixel: the category distribution of the object there (replaced inside regions)
    regions, n = ndimage.label(where.argmax(0) == 1, structure=np.ones((3, 3)))
    if n:  # one pass of bincount per category: sums over every region at once
        flat = regions.ravel()
        sel = flat > 0
        fo, qo = flat[sel], q.reshape(k, -1)[:, sel]  # the object pixels only
        sizes = np.bincount(fo, minlength=n + 1).astype(np.float32)  # (n + 1,), 0 = not an object
        pooled = np.stack([np.bincount(fo, weights=qo[c], minlength=n + 1) for c in range(k)], 1)
        pooled /= np.maximum(sizes[:, None], 1.0)
        pooled_named = pooled * named
        has_named = pooled_named.sum(1) > 1e-6
        pooled = np.where(has_named[:, None], pooled_named / np.maximum(pooled_named.sum(1, keepdims=True), 1e-6),
                          pooled).astype(np.float32)
        top = pooled.argmax(1)
        # pixels of a second named category confident over a share of their region keep their own
        keep_own = np.zeros(fo.shape, bool)
        for c in np.flatnonzero(named):
            confident = qo[c] >= split_confidence
            share = np.bincount(fo[confident], minlength=n + 1) / np.maximum(sizes, 1.0)
            split = (share >= split_share) & (top != c)
            keep_own |= confident & split[fo]
        use = (sizes[fo] >= min_region) & ~keep_own
        qo[:, use] = pooled[fo[use]].T
        what = q.reshape(k, -1).copy()
        what[:, sel] = qo
        what = what.reshape(q.shape)
    scene = [names.index(c) for c in SCENE_CATEGORIES if c in names]
    out = np.empty((k + 1, *q.shape[1:]), np.float32)
    # object pixels named as people's things (a whole region, or the pixels that keep their own) are people
    wear = [names.index(c) for c in person_categories if c in names]
    is_person = np.isin(what.argmax(0), wear) if wear else np.zeros(q.shape[1:], bool)
    np.multiply(what, np.where(is_person, 0.0, obj)[None], out=out[:k])
    # background pixels: one category each, the confident scene category or other
    if scene:
        best = np.argmax(q[scene], 0)
        confident = np.take_along_axis(q[scene], best[None], 0)[0] >= scene_confidence
    else:
        best, confident = np.zeros(q.shape[1:], int), np.zeros(q.shape[1:], bool)
    for j, c in enumerate(scene):
        m = confident & (best == j)
        out[c][m] += bg[m]
    out[other][~confident] += bg[~confident]
    out[k] = person + np.where(is_person, obj, 0.0)
    return out


class ObjectModel(nn.Module):
    """A *where* PixelNet model and the teacher that names its objects, as one seg model over the
    categories and ``person``.

    Args:
        where: the *where* model (classes :data:`WHERE_CLASSES`, taps including ``head``).
        classifier: the ImageNet classifier of its backbone (reading the same ``head`` tap).

    Raises:
        ValueError: the model's classes are not :data:`WHERE_CLASSES`, or its backbone has no
            tap the classifier reads.
    """

    task = "seg"

    def __init__(self, where: PixelNet, classifier: ImageNetClassifier) -> None:
        super().__init__()
        if tuple(where.config.class_names or ()) != WHERE_CLASSES:
            raise ValueError(f"a where model has the classes {WHERE_CLASSES}, not {where.config.class_names}")
        if classifier.tap.name not in where.backbone.tap_names:
            raise ValueError(f"the classifier reads tap {classifier.tap.name!r}, which the backbone lacks")
        self.where, self.classifier = where, classifier
        self.config = TeacherConfig(class_names=[*classifier.categories, PERSON])

    def predictor(self, *, device: str | torch.device = "auto", max_side: int = 1024,
                  tta: bool = True) -> ObjectsPredictor:
        return ObjectsPredictor(self, device=device, max_side=max_side, tta=tta)


def object_model(where: PixelNet) -> ObjectModel:
    """Wrap a *where* model with the teacher its config names (``config.what``).

    Raises:
        ValueError: ``config.what`` is not one of :data:`OBJECT_TEACHERS`.
        FileNotFoundError: the teacher's weights package is missing.
    """
    if where.config.what not in OBJECT_TEACHERS:
        raise ValueError(f"unknown object teacher {where.config.what!r}; expected one of {OBJECT_TEACHERS}")
    return ObjectModel(where, load_imagenet_classifier(where.config.backbone))


@torch.no_grad()
def head_categories(predictor: Predictor, classifier: ImageNetClassifier,
                    scales: Sequence[float] = (1.0,)) -> np.ndarray:
    """The classifier's category probabilities of the predictor's image, from the tap its ``seg``
    model's backbone already computed (the predictor's feature cache: no second backbone pass).

    Returns:
        float32 ``(K, H, W)`` at the predictor's image size, averaged over ``scales``.
    """
    tap = classifier.tap.name
    heads = [predictor.features("seg", s, taps=[tap])[tap] for s in scales]
    sizes = [predictor.input_size(s) for s in scales]
    h, w = predictor.image.shape[:2]  # type: ignore[union-attr]
    return classifier.category_probs(heads, sizes, (h, w))[0].float().cpu().numpy()


class ObjectsPredictor:
    """Category and person probabilities of an image from an :class:`ObjectModel`, with the
    :class:`pixelnet.Predictor` interface (``set_image``, ``predict``, ``image_scale``, ``tasks``).

    The *where* model runs through a :class:`pixelnet.Predictor`, whose feature cache also serves
    the classifier its ``head`` tap: one backbone pass per scale, plus the passes of the *where*
    model's test-time augmentation (``ModelConfig.tta_scales``, ``tta_mirror``; off with
    ``tta=False``), which only *where* averages: the categories are read at the asked scales.
    """

    def __init__(self, model: ObjectModel, *, device: str | torch.device = "auto", max_side: int = 1024,
                 tta: bool = True) -> None:
        self.model = model
        self.base = Predictor({"seg": model.where}, device=device, max_side=max_side, tta=tta)
        self.classifier = model.classifier.to(self.base.device)

    @property
    def tasks(self) -> list[str]:
        return ["seg"]

    @property
    def image_scale(self) -> float:
        return self.base.image_scale

    @property
    def image(self) -> np.ndarray | None:
        return self.base.image

    def set_image(self, image: np.ndarray | Image.Image) -> np.ndarray:
        """Set the image (``(H, W, 3)`` uint8 RGB); returns the possibly downsized image predictions refer to."""
        return self.base.set_image(image)

    @torch.no_grad()
    def where(self, scales: Sequence[float] = (1.0,)) -> np.ndarray:
        """float32 ``(3, H, W)`` probabilities of :data:`WHERE_CLASSES`."""
        return self.base.predict(scales=scales)["seg"]

    def categories(self, scales: Sequence[float] = (1.0,)) -> np.ndarray:
        """float32 ``(K, H, W)`` the teacher's category probabilities from the cached ``head`` tap."""
        return head_categories(self.base, self.classifier, scales)

    @torch.no_grad()
    def predict(self, image: np.ndarray | Image.Image | None = None, *, scales: Sequence[float] = (1.0,),
                tasks: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """``{"seg": (K + 1, H, W) float32}`` over the categories and ``person`` (:func:`name_objects`)."""
        if image is not None:
            self.set_image(image)
        wanted = list(tasks) if tasks is not None else ["seg"]
        if any(t != "seg" for t in wanted):
            raise ValueError(f"an object model predicts seg only, not {[t for t in wanted if t != 'seg']}")
        if not scales:
            raise ValueError("no scales given")
        if not wanted:
            return {}
        return {"seg": name_objects(self.where(scales), self.categories(scales), self.classifier.categories)}
