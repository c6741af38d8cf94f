"""Pixel-accurate pseudo-labels of *where* from three teachers, cached per photo (issue #25).

The #20 category head learned *what* and *where* at once from the dense ImageNet teacher, whose
cells are 32 px wide, and re-learned a 1,000-class teacher's knowledge from 62 photos. Here the two
are factorised:

- **where** comes from a salient-object model (ISNet, :mod:`pixelnet.teachers.salient`): its mask
  is pixel-accurate, whatever the object's class; and from the person model
  (:mod:`pixelnet.teachers.person`), gated by the dense teacher's clothing as in #20
  (:func:`~pixelnet.distill.pseudo_labels.combine_person`);
- **what** stays with the dense ImageNet teacher (:mod:`pixelnet.teachers.dense_imagenet`), read at
  test time from the same ``head`` tap (:mod:`pixelnet.objects`).

:func:`where_targets` turns the teachers' maps into the classes of :data:`WHERE_CLASSES` with
``255`` wherever they are unsure: a salient probability between ``salient_low`` and
``salient_high``, a person probability inside the person model's uncertain band, and a band of
``band`` pixels along every boundary of the label map (the masks' own edges are soft).
:class:`TeacherMaps` computes the three maps of a photo once and keeps them as files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pixelnet.datasets.common import DatasetError
from pixelnet.distill.pseudo_labels import LABEL_SIDE, combine_person, read_photo
from pixelnet.objects import WHERE_CLASSES
from pixelnet.teachers.imagenet_categories import CATEGORIES

__all__ = ["WHERE_CLASSES", "ObjectRule", "PhotoMaps", "TeacherMaps", "category_targets", "where_targets"]

_IGNORE = 255


@dataclass(frozen=True)
class ObjectRule:
    """When the teachers' maps give a *where* label (see :func:`where_targets`).

    Attributes:
        salient_low: salient probability below which a pixel is background.
        salient_high: from here a pixel is an object.
        person_low: person probabilities in ``[person_low, person_high)`` are ignored.
        person_high: from here a pixel is ``person`` (after the clothing gate).
        band: half-width in pixels (at :data:`~pixelnet.distill.pseudo_labels.LABEL_SIDE`) of the
            ignored band along every boundary of the labels.
    """

    salient_low: float = 0.3
    salient_high: float = 0.7
    person_low: float = 0.2
    person_high: float = 0.6
    band: int = 3

    @property
    def key(self) -> str:
        """A folder name that changes with the rule."""
        return (f"s{self.salient_low:g}-{self.salient_high:g}-p{self.person_low:g}-{self.person_high:g}"
                f"-b{self.band}")


def where_targets(salient: np.ndarray, person: np.ndarray | None, rule: ObjectRule = ObjectRule()) -> np.ndarray:
    """The *where* labels of a photo.

    Args:
        salient: float ``(H, W)`` salient-object probability in [0, 1].
        person: float ``(H, W)`` person probability after the clothing gate, or None (no people).
        rule: the thresholds and the band.

    Returns:
        uint8 ``(H, W)``: indices of :data:`WHERE_CLASSES`, ``255`` where the teachers are unsure.
    """
    from scipy.ndimage import maximum_filter, minimum_filter

    labels = np.where(salient >= rule.salient_high, 1, 0).astype(np.uint8)
    unsure = (salient > rule.salient_low) & (salient < rule.salient_high)
    if person is not None:
        if person.shape != salient.shape:
            raise ValueError(f"person map {person.shape} and salient map {salient.shape} differ in size")
        is_person = person >= rule.person_high
        labels[is_person] = 2
        unsure = (unsure & ~is_person) | ((person >= rule.person_low) & ~is_person)
    if rule.band > 0:
        size = 2 * rule.band + 1
        unsure |= maximum_filter(labels, size) != minimum_filter(labels, size)
    labels[unsure] = _IGNORE
    return labels


def category_targets(maps: PhotoMaps, rule: ObjectRule = ObjectRule()) -> np.ndarray:
    """Category labels of a photo for a head that predicts the categories directly (the comparison
    of issue #25): :func:`where_targets`, each object region named by the teacher's categories
    pooled over it (:func:`pixelnet.objects.name_objects` on the teachers' *where* labels),
    person, and background pixels the confident scene category or ``other``.

    Returns:
        uint8 ``(H, W)``: indices of ``[*CATEGORIES, "person"]``, ``255`` where unsure.
    """
    from pixelnet.objects import name_objects

    where = where_targets(maps.salient, maps.person, rule)
    onehot = np.stack([where == k for k in range(len(WHERE_CLASSES))]).astype(np.float32)
    out = name_objects(onehot, maps.categories, CATEGORIES).argmax(0).astype(np.uint8)
    out[where == _IGNORE] = _IGNORE
    return out


@dataclass
class PhotoMaps:
    """The teachers' maps of one photo at its labelling size (longer side
    :data:`~pixelnet.distill.pseudo_labels.LABEL_SIDE`).

    Attributes:
        salient: float32 ``(H, W)`` salient-object probability.
        person: float32 ``(H, W)`` person probability after the clothing gate (0 without people).
        categories: float32 ``(K, H, W)`` dense category probabilities (K = the categories).
    """

    salient: np.ndarray
    person: np.ndarray
    categories: np.ndarray


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _save_png(path: Path, values: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(np.round(np.clip(values, 0, 1) * 255).astype(np.uint8)).save(tmp)
    tmp.replace(path)


def _load_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im, dtype=np.float32) / 255.0


class TeacherMaps:
    """The salient, person and dense category maps of photos, computed once and stored.

    Files, per photo ``P`` (named by its file stem) in ``store``: ``P.salient.png`` and ``P.person.png``
    (uint8 probabilities at the labelling size) and ``P.categories.npz`` (uint8, every
    :data:`CATEGORY_STRIDE` px; bilinearly upsampled when read).

    Args:
        store: the folder of the maps (e.g. ``CACHE/teacher_maps``).
        salient: RGB -> salient probability (default: ISNet from the fetch cache, loaded on first need).
        person: RGB -> person probability (default: the selfie model from the fetch cache).
        categories: RGB -> ``(K, H, W)`` dense category probabilities (default: the dense teacher at
            scales 0.5, 1, 1.5).
        cache: the fetch cache holding the teachers (``teachers/``).
    """

    CATEGORY_STRIDE = 4

    def __init__(self, store: str | Path, *, salient: Callable[[np.ndarray], np.ndarray] | None = None,
                 person: Callable[[np.ndarray], np.ndarray] | None = None,
                 categories: Callable[[np.ndarray], np.ndarray] | None = None,
                 cache: str | Path | None = None) -> None:
        self.store = Path(store).expanduser()
        self.cache = None if cache is None else Path(cache).expanduser()
        self._salient, self._person, self._categories = salient, person, categories

    def _teacher(self, which: str) -> Callable[[np.ndarray], np.ndarray]:
        if which == "salient" and self._salient is None:
            from pixelnet.teachers.salient import SalientTeacher, salient_model_path

            path = None if self.cache is None else salient_model_path(self.cache)
            self._salient = SalientTeacher(path).mask
        if which == "person" and self._person is None:
            from pixelnet.teachers.person import PERSON_MODEL, PersonTeacher

            path = None if self.cache is None else self.cache / "teachers" / PERSON_MODEL
            self._person = PersonTeacher(path=path).predict
        if which == "categories" and self._categories is None:
            from pixelnet.teachers import load_reference

            dense = load_reference("imagenet-dense").predictor(device="cpu", max_side=4096)
            self._categories = lambda rgb: dense.predict(rgb, scales=(0.5, 1.0, 1.5))["seg"]
        return {"salient": self._salient, "person": self._person, "categories": self._categories}[which]

    def has(self, photo: Path) -> bool:
        """True when every map of ``photo`` is stored and was computed from this photo's bytes
        (``P.photo.sha256``; a photo fetched again with other pixels, e.g. turned upright, is not).

        Maps stored before the digest was kept are taken when their size is the photo's (and the
        digest is then written).
        """
        s = self.store / photo.stem
        if not all(Path(f"{s}.{k}").is_file() for k in ("salient.png", "person.png", "categories.npz")):
            return False
        digest, stored = Path(f"{s}.photo.sha256"), _file_sha256(photo)
        if digest.is_file():
            return digest.read_text().strip() == stored
        with Image.open(photo) as im, Image.open(f"{s}.salient.png") as sal:
            w, h = im.size
            k = min(1.0, LABEL_SIDE / max(w, h))
            if abs(sal.size[0] - w * k) > 1 or abs(sal.size[1] - h * k) > 1:
                return False
        digest.write_text(stored + "\n")
        return True

    def __call__(self, photo: str | Path, *, compute: bool = True) -> PhotoMaps:
        """The maps of ``photo`` (computed and stored the first time).

        Raises:
            DatasetError: not stored and ``compute`` is off.
        """
        photo = Path(photo)
        s = self.store / photo.stem
        q = None
        if self.has(photo):
            with np.load(f"{s}.categories.npz") as f:
                q = f["categories"].astype(np.float32) / 255.0
            if q.shape[0] != len(CATEGORIES):  # stored under another category table: stale
                q = None
        if q is None:
            if not compute:
                raise DatasetError(f"no teacher maps of {photo.name} in {self.store} (run train/label_photos.py)")
            self._compute(photo, s)
            with np.load(f"{s}.categories.npz") as f:
                q = f["categories"].astype(np.float32) / 255.0
        salient = _load_png(Path(f"{s}.salient.png"))
        h, w = salient.shape
        up = np.stack([np.asarray(Image.fromarray(c, "F").resize((w, h), Image.Resampling.BILINEAR)) for c in q])
        up /= np.maximum(up.sum(0, keepdims=True), 1e-6)
        return PhotoMaps(salient, _load_png(Path(f"{s}.person.png")), up.astype(np.float32))

    def _compute(self, photo: Path, s: Path) -> None:
        rgb = read_photo(photo, LABEL_SIDE)
        q = self._teacher("categories")(rgb)
        if q.shape[0] != len(CATEGORIES):
            raise ValueError(f"the category teacher gave {q.shape[0]} maps, expected {len(CATEGORIES)}")
        person = combine_person(q, self._teacher("person")(rgb))[-1]
        salient = self._teacher("salient")(rgb)
        self.store.mkdir(parents=True, exist_ok=True)
        k = self.CATEGORY_STRIDE
        tmp = Path(f"{s}.categories.tmp.npz")
        np.savez_compressed(tmp, categories=np.round(np.clip(q[:, k // 2::k, k // 2::k], 0, 1) * 255).astype(np.uint8))
        tmp.replace(f"{s}.categories.npz")
        _save_png(Path(f"{s}.person.png"), person)
        Path(f"{s}.photo.sha256").unlink(missing_ok=True)
        _save_png(Path(f"{s}.salient.png"), salient)  # has() is true only when all three exist
        Path(f"{s}.photo.sha256").write_text(_file_sha256(photo) + "\n")

    def write_rule(self, rule: ObjectRule) -> None:
        """Record a rule beside the maps (``rule.<key>.json``), for people reading the cache."""
        self.store.mkdir(parents=True, exist_ok=True)
        (self.store / f"rule.{rule.key}.json").write_text(
            json.dumps({**asdict(rule), "classes": list(WHERE_CLASSES)}, indent=1) + "\n")
