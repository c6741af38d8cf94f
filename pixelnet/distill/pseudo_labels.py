"""Pseudo-labels of real photos from two teachers, with a confidence rule, cached on disk (issue #20).

No segmentation labels of real photos with many classes can be had offline, but two teachers can
label them:

- the backbone's own ImageNet classifier applied at every cell of its ``head`` tap
  (:mod:`pixelnet.teachers.dense_imagenet`), multi-scale, summed into the categories of
  :mod:`pixelnet.teachers.imagenet_categories`: it knows *what* is where, coarsely (stride 32);
- a person model (:mod:`pixelnet.teachers.person`, MediaPipe's selfie segmentation), since
  ImageNet has no person class. It is a training-time teacher only.

Their probabilities combine into :data:`PSEUDO_CLASSES` (the categories, then ``person``):
``P(person) = p`` and ``P(category) = (1 - p) q_category``. :func:`pseudo_labels` turns them into
hard labels with a confidence rule, as the HED distillation's band does (``255`` = ignored). A
selfie model marks the subject of any close-up, so the person teacher counts only where the dense
teacher sees clothing on the subject and no animal, food or object at the pixel
(:func:`combine_person`). Ignored:

- the top class has probability below ``confidence``: the teachers are unsure;
- ``p`` is inside the person model's uncertain band;
- the pixel is within ``band`` pixels of a change of the (category) label: the dense classifier's
  cells are 32 px wide, so where one category meets another its boundary is a guess. The person
  model's own boundary is finer and keeps its pixels.

:class:`PseudoLabeler` labels a photo; :func:`cached_labels` stores its result once per photo as a
PNG in a folder named after the rule (``pseudo/<rule>/<photo>.png``), so a change of the rule never
reads stale labels.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pixelnet.datasets.common import DatasetError
from pixelnet.teachers.imagenet_categories import CATEGORIES

__all__ = ["CLOTHING_GATE", "COMPOSITE_CLASS", "LABEL_SIDE", "NOT_PERSON", "PERSON", "PROB_STRIDE", "PSEUDO_CLASSES",
           "LabelRule", "PseudoLabeler", "cached_labels", "cached_probs", "category_class_map", "combine_person",
           "pseudo_labels", "read_photo", "sample_labels"]

PERSON = "person"
PSEUDO_CLASSES: tuple[str, ...] = (*CATEGORIES, PERSON)
"""The classes of the distilled head: the ImageNet categories, then ``person``."""

LABEL_SIDE = 512
"""Longer side at which photos are labelled (and their labels stored)."""

COMPOSITE_CLASS: dict[str, str] = {
    "dog": "animal", "cat": "animal", "bird": "animal", "sea life": "animal", "reptile": "animal",
    "insect": "animal", "mammal": "animal",
    "fruit/veg": "food", "food": "food",
    "plant": "plant",
    "vehicle": "vehicle",
    "furniture": "household", "kitchenware": "household", "electronics": "household",
    "instrument": "instrument",
    "sports gear": "sports",
}
"""The composites class (``--data composites``) each category belongs to; every other class of
:data:`PSEUDO_CLASSES` (clothing, tool, building, landscape, other, person) is ``background``
(tools are none of the composites' classes: Tux Paint's stamps file no tool under household). Used to
score category models on the composites' exact masks and to tell which categories a cut-out of
a composites class may take."""


def category_class_map(model_classes: Sequence[str], dataset_classes: Sequence[str]) -> np.ndarray:
    """Index map from a category model's classes to a composites-like dataset's classes.

    Args:
        model_classes: names of the model's outputs (categories, optionally ``person``).
        dataset_classes: the dataset's classes: ``("background", *classes)`` of a composites-like
            dataset, or :data:`PSEUDO_CLASSES`.

    Returns:
        int64 ``[len(model_classes)]``: the dataset class index of each model class.

    Every model class the dataset has is mapped to it by name (a model of an older category list,
    e.g. the shipped ``seg_categories`` without ``tool``, scored on ``real-categories``); the
    others go to their :data:`COMPOSITE_CLASS` (else ``background``).

    Raises:
        ValueError: a model class is not in the dataset, and the dataset has no ``background`` or
            lacks the class the map names.
    """
    if set(model_classes) <= set(dataset_classes):
        return np.asarray([list(dataset_classes).index(name) for name in model_classes], dtype=np.int64)
    if "background" not in dataset_classes:
        raise ValueError(f"dataset classes {list(dataset_classes)} have no 'background'")
    out = []
    for name in model_classes:
        target = COMPOSITE_CLASS.get(name, "background")
        if target not in dataset_classes:
            raise ValueError(f"category {name!r} maps to {target!r}, which the dataset does not have")
        out.append(list(dataset_classes).index(target))
    return np.asarray(out, dtype=np.int64)


@dataclass(frozen=True)
class LabelRule:
    """The confidence rule of :func:`pseudo_labels`.

    Attributes:
        confidence: least probability of the top class for a label.
        person_low: person probabilities in ``[person_low, person_high)`` are ignored.
        person_high: from here a pixel is ``person``.
        band: half-width in pixels (at :data:`LABEL_SIDE`) of the ignored band along category boundaries.
        scales: the dense teacher's test scales.
        soft: train on the teachers' probabilities instead (stored, see :func:`cached_probs`): each
            sample draws every pixel's label from them (:func:`sample_labels`), so the expected
            cross-entropy is the soft-target one; the confidence rule and the band are not applied.
    """

    confidence: float = 0.35
    person_low: float = 0.2
    person_high: float = 0.6
    band: int = 12
    scales: tuple[float, ...] = (0.5, 1.0, 1.5)
    soft: bool = False

    @property
    def key(self) -> str:
        """A folder name that changes with the rule and with the number of classes (stored labels
        are indices into :data:`PSEUDO_CLASSES`: those of a list without ``tool`` are not read as
        those of the current one)."""
        scales = "_".join(f"{s:g}" for s in self.scales)
        k = f"-k{len(PSEUDO_CLASSES)}"
        if self.soft:
            return f"soft-s{scales}{k}"
        return f"c{self.confidence:g}-p{self.person_low:g}-{self.person_high:g}-b{self.band}-s{scales}{k}"


NOT_PERSON: tuple[str, ...] = ("dog", "cat", "bird", "sea life", "reptile", "insect", "mammal", "vehicle",
                               "fruit/veg", "food", "plant", "kitchenware")
"""Categories that veto the person teacher: it is a selfie model and marks the main subject of any
close-up (a cat's face, a cup), so a pixel is a person only as far as the dense teacher does not
see one of these there."""


CLOTHING_GATE = 0.1
"""Least mean ``clothing`` probability of the dense teacher over the person teacher's subject for
the subject to be taken as people at all: people wear clothes (ImageNet's jersey, suit, ...), a
cat's face, a cup or a flower does not (measured: 0.18 to 0.39 on four photos of people, below
0.05 on a cat, a cup, a flower, an apple and dogs)."""


def combine_person(categories: np.ndarray, subject: np.ndarray | None, *,
                   clothing_gate: float = CLOTHING_GATE) -> np.ndarray:
    """Category and person probabilities -> ``(K + 1, H, W)`` probabilities of :data:`PSEUDO_CLASSES`.

    Args:
        categories: ``(K, H, W)`` dense category probabilities.
        subject: ``(H, W)`` the person teacher's probability (None: no person teacher).
        clothing_gate: see :data:`CLOTHING_GATE` (0 turns the gate off).

    Returns:
        ``P(person) = s (1 - sum of NOT_PERSON)`` where the subject passes the clothing gate (else
        0), and ``P(c) = (1 - P(person)) q_c``.
    """
    p = np.zeros(categories.shape[1:], np.float32)
    if subject is not None:
        inside = subject > 0.5
        clothing = float(categories[CATEGORIES.index("clothing")][inside].mean()) if inside.any() else 0.0
        if clothing >= clothing_gate:
            veto = categories[[CATEGORIES.index(c) for c in NOT_PERSON]].sum(0)
            p = (subject * np.clip(1.0 - veto, 0.0, 1.0)).astype(np.float32)
    return np.concatenate([categories * (1.0 - p)[None], p[None]], axis=0)


def pseudo_labels(probs: np.ndarray, rule: LabelRule = LabelRule()) -> np.ndarray:
    """Hard labels with ``255`` where the teachers are unsure (see the module docstring).

    Args:
        probs: ``(K + 1, H, W)`` probabilities of :data:`PSEUDO_CLASSES` (person last).
        rule: the confidence rule.

    Returns:
        uint8 ``(H, W)``: class index, or 255.
    """
    from scipy.ndimage import maximum_filter, minimum_filter

    person = len(PSEUDO_CLASSES) - 1
    if probs.shape[0] != len(PSEUDO_CLASSES):
        raise ValueError(f"probs has {probs.shape[0]} classes, expected {len(PSEUDO_CLASSES)}")
    labels = probs.argmax(0).astype(np.uint8)
    cats = probs[:person].argmax(0).astype(np.uint8)  # the category label, person aside
    size = 2 * rule.band + 1
    edge = maximum_filter(cats, size) != minimum_filter(cats, size)
    p = probs[person]
    is_person = p >= rule.person_high
    labels[is_person] = person
    out = labels.copy()
    unsure = (probs.max(0) < rule.confidence) & ~is_person
    out[unsure | (edge & ~is_person) | ((p >= rule.person_low) & ~is_person)] = 255
    return out


def read_photo(path: Path, side: int = LABEL_SIDE) -> np.ndarray:
    """A photo as RGB uint8 ``(h, w, 3)``, its longer side at most ``side``.

    Raises:
        DatasetError: unreadable.
    """
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((side, side), Image.Resampling.LANCZOS)
            return np.asarray(im)
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e


class PseudoLabeler:
    """The two teachers, loaded once.

    Args:
        rule: the confidence rule.
        device: where the dense teacher runs.
        person: RGB uint8 ``(H, W, 3)`` -> person probability ``(H, W)``; default: the
            selfie-segmentation teacher from the fetch cache (``person=False``: no person teacher).
        cache: the fetch cache holding the person teacher (``teachers/``).
    """

    def __init__(self, rule: LabelRule = LabelRule(), *, device: str = "cpu",
                 person: Callable[[np.ndarray], np.ndarray] | bool = True, cache: str | Path | None = None) -> None:
        from pixelnet.teachers import load_reference

        self.rule = rule
        self.dense = load_reference("imagenet-dense").predictor(device=device, max_side=4096)
        if person is True:
            from pixelnet.teachers.person import PERSON_MODEL, PersonTeacher

            path = None if cache is None else Path(cache) / "teachers" / PERSON_MODEL
            person = PersonTeacher(path=path).predict
        self.person = person or None

    def categories(self, rgb: np.ndarray, scales: Sequence[float] | None = None) -> np.ndarray:
        """``(K, H, W)`` dense category probabilities of an RGB photo."""
        return self.dense.predict(rgb, scales=tuple(scales or self.rule.scales))["seg"]

    def probs(self, rgb: np.ndarray) -> np.ndarray:
        """``(K + 1, H, W)`` probabilities of :data:`PSEUDO_CLASSES`."""
        person = None if self.person is None else self.person(rgb)
        return combine_person(self.categories(rgb), person)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 ``(H, W)`` pseudo-labels of an RGB photo (255: ignored)."""
        return pseudo_labels(self.probs(rgb), self.rule)

    def cutout_category(self, rgba: np.ndarray, allowed: Sequence[int]) -> int:
        """The category of a photo cut-out: the dense teacher on it over grey, its category
        probabilities averaged over the cut-out's pixels, the most probable of ``allowed``.

        Args:
            rgba: uint8 ``(h, w, 4)`` cut-out.
            allowed: category indices it may take (those of its composites class).
        """
        im = Image.fromarray(rgba, "RGBA")
        im.thumbnail((224, 224), Image.Resampling.LANCZOS)
        side = max(im.size) + 32  # a margin, so the object is not cut by the frame
        canvas = Image.new("RGB", (side, side), (128, 128, 128))
        canvas.paste(im, ((side - im.size[0]) // 2, (side - im.size[1]) // 2), im)
        alpha = np.zeros((side, side), np.float32)
        a = np.asarray(im, np.float32)[..., 3] / 255.0
        y0, x0 = (side - im.size[1]) // 2, (side - im.size[0]) // 2
        alpha[y0:y0 + a.shape[0], x0:x0 + a.shape[1]] = a
        q = self.categories(np.asarray(canvas), scales=(1.0,))  # (K, side, side)
        mean = (q * alpha[None]).sum(axis=(1, 2)) / max(float(alpha.sum()), 1e-6)
        allowed = list(allowed)
        return int(allowed[int(np.argmax(mean[allowed]))])


def cached_labels(photo: Path, store: Path, labeler: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """The pseudo-labels of ``photo`` at a longer side of :data:`LABEL_SIDE`, computed once and stored
    as ``store/<photo stem>.png``.

    Args:
        photo: an RGB photo file.
        store: the rule's folder (``pseudo/<rule key>``).
        labeler: RGB -> labels; needed only when the labels are not stored yet.

    Raises:
        DatasetError: labels missing and no labeler given.
    """
    path = store / f"{photo.stem}.png"
    if path.is_file():
        with Image.open(path) as im:
            return np.asarray(im, dtype=np.uint8)
    if labeler is None:
        raise DatasetError(f"no pseudo-labels for {photo.name} in {store}")
    labels = labeler(read_photo(photo))
    store.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(labels).save(tmp)
    tmp.replace(path)
    return labels


PROB_STRIDE = 4
"""Soft targets are stored at 1/4 of :data:`LABEL_SIDE` (the dense teacher's cells are 32 px)."""


def cached_probs(photo: Path, store: Path, teacher: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """The teachers' probabilities of ``photo`` (at :data:`LABEL_SIDE`, stored every
    :data:`PROB_STRIDE` px as uint8 in ``store/<photo stem>.npz``), computed once.

    Args:
        photo: an RGB photo file.
        store: the rule's folder.
        teacher: RGB -> ``(K + 1, H, W)`` probabilities; needed only when none are stored yet.

    Returns:
        float32 ``(K + 1, h, w)``, each pixel's probabilities summing to 1 (up to rounding).

    Raises:
        DatasetError: nothing stored and no teacher given.
    """
    path = store / f"{photo.stem}.npz"
    if not path.is_file():
        if teacher is None:
            raise DatasetError(f"no soft pseudo-labels for {photo.name} in {store}")
        probs = teacher(read_photo(photo))[:, PROB_STRIDE // 2 :: PROB_STRIDE, PROB_STRIDE // 2 :: PROB_STRIDE]
        store.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, probs=np.round(np.clip(probs, 0, 1) * 255).astype(np.uint8))
        tmp.replace(path)
    with np.load(path) as f:
        q = f["probs"].astype(np.float32)
    return q / np.maximum(q.sum(0, keepdims=True), 1e-6)


def sample_labels(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One label per pixel drawn from ``(K, H, W)`` probabilities: int64 ``(H, W)``.

    The cross-entropy of labels drawn this way is, in expectation, the cross-entropy against the
    probabilities themselves (soft targets), with no change to the training loop or the samplers.
    """
    cdf = np.cumsum(probs, axis=0)
    u = rng.random(probs.shape[1:], dtype=np.float32) * cdf[-1]
    return np.minimum((cdf < u[None]).sum(0), probs.shape[0] - 1).astype(np.int64)


def write_rule(store: Path, rule: LabelRule) -> None:
    """Record the rule beside its labels (``rule.json``), for people reading the cache."""
    store.mkdir(parents=True, exist_ok=True)
    (store / "rule.json").write_text(json.dumps({**asdict(rule), "classes": list(PSEUDO_CLASSES)}, indent=1) + "\n")
