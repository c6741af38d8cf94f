"""How right a category segmentation is on real photos without segmentation labels (issue #25).

No labelled segmentation of real photos can be had offline, but two independent things can judge
one on held-out photos:

- the **folder label** of a photo (GCompris files its photos in folders: fishes, monuments,
  tools, animals, instruments): an image-level label of *what* the main object is, given by
  people, independent of every teacher;
- the **salient-object mask** (ISNet) and the **person mask** (the gated selfie model): where
  the main object and the people are, pixel-accurately (teachers, but not the ImageNet one).

Per photo, :class:`ObjectMeter` takes a predicted label map (class names of the model) and:

- **category accuracy**: the most frequent named class inside the salient mask (``other``
  ignored) must be one of the folder's categories (:data:`FOLDER_CATEGORIES`; photos of other
  folders are not scored);
- **object IoU**: the region predicted as that class against the salient mask (``>= 0.5``), with
  a band of ``band`` pixels around the mask's boundary ignored (0 when no named class is there);
- **boundary F**: the boundary of that region against the mask's boundary, within ``tolerance``
  pixels (:class:`pixelnet.metrics.SegBoundaryMeter`);
- **person IoU**: ``person`` predicted against the person mask, on photos whose person mask
  covers at least ``min_person`` of the image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from pixelnet.metrics import SegBoundaryMeter

__all__ = ["ANIMALS", "FOLDER_CATEGORIES", "ObjectMeter", "clothing_regions", "evaluate_photos", "object_category",
           "right_class_iou"]

ANIMALS: tuple[str, ...] = ("dog", "cat", "bird", "sea life", "reptile", "insect", "mammal")
FOLDER_CATEGORIES: dict[str, tuple[str, ...]] = {
    "fish": ("sea life",),
    "monument": ("building",),
    "tool": ("tool",),
    "animal": ANIMALS,
    "instrument": ("instrument",),
}
"""Folder label -> the categories that name its photos' main object (other folders, such as
GCompris' 'renewable' and 'others', are not scored for *what*)."""

OTHER = "other"
_IGNORE = 255


def object_category(labels: np.ndarray, mask: np.ndarray, names: Sequence[str]) -> int | None:
    """The most frequent class inside ``mask`` other than ``other`` (None when there is none)."""
    counts = np.bincount(labels[mask].ravel(), minlength=len(names))
    if OTHER in names:
        counts[list(names).index(OTHER)] = 0
    return int(counts.argmax()) if counts.sum() else None


def _band_iou(pred: np.ndarray, target: np.ndarray, band: int) -> float:
    """IoU of two masks, pixels within ``band`` of the target's boundary ignored."""
    keep = np.ones_like(target)
    if band > 0:
        size = 2 * band + 1
        keep = ~(ndimage.maximum_filter(target, size) != ndimage.minimum_filter(target, size))
    inter = (pred & target & keep).sum()
    union = ((pred | target) & keep).sum()
    return float(inter / union) if union else 1.0


class ObjectMeter:
    """Category accuracy, object IoU, boundary F and person IoU over photos (module docstring).

    Args:
        class_names: the model's class names (categories, maybe ``person``).
        band: ignored band (px) around the masks' boundaries for the IoUs.
        tolerance: boundary F tolerance (px).
        min_person: least share of the image the person mask must cover for person IoU.
    """

    def __init__(self, class_names: Sequence[str], *, band: int = 2, tolerance: float = 2.0,
                 min_person: float = 0.01) -> None:
        self.names = list(class_names)
        self.band, self.min_person = band, min_person
        self.boundary = SegBoundaryMeter(tolerance=tolerance)
        self.reset()

    def reset(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.boundary.reset()

    def update(self, labels: np.ndarray, salient: np.ndarray, person: np.ndarray | None = None, *,
               folder: str = "", name: str = "") -> dict[str, object]:
        """Score one photo.

        Args:
            labels: int ``(H, W)`` predicted class indices of :attr:`names`.
            salient: float ``(H, W)`` salient-object probability.
            person: float ``(H, W)`` person probability, or None.
            folder: the photo's folder label (``""``: none).
            name: the photo's name, kept in its row.

        Returns:
            This photo's row: ``category``, ``correct`` (None when not scored), ``object_iou``,
            ``person_iou`` (None when not scored).
        """
        if labels.shape != salient.shape:
            raise ValueError(f"labels {labels.shape} and salient mask {salient.shape} differ in size")
        mask = salient >= 0.5
        row: dict[str, object] = {"name": name, "folder": folder, "category": None, "correct": None,
                                  "object_iou": None, "person_iou": None}
        if mask.mean() >= 0.005:
            c = object_category(labels, mask, self.names)
            region = labels == c if c is not None else np.zeros_like(mask)
            row["category"] = self.names[c] if c is not None else None
            if folder in FOLDER_CATEGORIES:
                row["correct"] = row["category"] in FOLDER_CATEGORIES[folder]
            row["object_iou"] = _band_iou(region, mask, self.band)
            self.boundary.update(region.astype(np.int64), mask.astype(np.int64))
        if person is not None and "person" in self.names and (person >= 0.5).mean() >= self.min_person:
            row["person_iou"] = _band_iou(labels == self.names.index("person"), person >= 0.5, self.band)
        self.rows.append(row)
        return row

    def compute(self) -> dict[str, float]:
        """``category_acc`` (fraction, and ``category_n`` photos scored), ``object_iou`` (mean, and
        ``object_n``), ``boundary_f``, ``person_iou`` (mean, and ``person_n``); NaN where nothing was scored."""
        def mean(key: str) -> tuple[float, int]:
            values = [float(r[key]) for r in self.rows if r[key] is not None]
            return (float(np.mean(values)) if values else float("nan")), len(values)

        acc, n_acc = mean("correct")
        iou, n_iou = mean("object_iou")
        piou, n_p = mean("person_iou")
        return {"category_acc": acc, "category_n": n_acc, "object_iou": iou, "object_n": n_iou,
                "boundary_f": self.boundary.compute()["boundary_f"], "person_iou": piou, "person_n": n_p}


def evaluate_photos(model: object, root: str | Path, *, split: str = "test", scales: Sequence[float] = (1.0,),
                    device: str = "cpu", max_side: int = 1024, limit: int | None = None,
                    progress: Callable[[int], None] | None = None,
                    tta: bool = True) -> tuple[dict[str, float], list[dict[str, object]]]:
    """Score a category seg model on the labelled photos of the fetch cache (``CACHE/photos``).

    Args:
        model: a PixelNet seg model, a reference (``imagenet-dense``) or an object model: anything
            :func:`pixelnet.evaluation.evaluate` runs, whose classes include categories.
        root: the fetch cache (photos and ``teacher_maps/``, computed where missing).
        split: the photos' split.
        scales: test scales.
        device: where the model runs.
        max_side: the predictor's size limit.
        limit: the first N photos only.
        progress: called with 1 after each photo.
        tta: apply the test-time augmentation the model records.

    Returns:
        (:meth:`ObjectMeter.compute`, the per-photo rows).
    """
    from pixelnet.distill import TeacherMaps, labelled_photos, read_photo
    from pixelnet.evaluation.evaluate import model_predictor, predict_full_size

    root = Path(root).expanduser()
    photos = labelled_photos(root, split)[:limit]
    maps = TeacherMaps(root / "teacher_maps", cache=root)
    predictor = model_predictor(model, device=device, max_side=max_side, tta=tta)
    meter = ObjectMeter(model.config.class_names)
    for file, folder in photos:
        m = maps(file)
        rgb = read_photo(file)
        probs = predict_full_size(predictor, "seg", rgb, scales)
        meter.update(probs.argmax(0), m.salient, m.person, folder=folder, name=file.name)
        if progress is not None:
            progress(1)
    return meter.compute(), meter.rows


def right_class_iou(model: object, photos: Sequence[tuple[str | Path, Sequence[str]]], root: str | Path, *,
                    scales: Sequence[float] = (1.0,), device: str = "cpu", max_side: int = 1024,
                    band: int = 2, progress: Callable[[int], None] | None = None, tta: bool = True) -> dict[str, float]:
    """Right-class IoU on photos whose main object's class people know (issue #25's first yardstick:
    the explorer's examples and Grace Hopper, never trained on): per photo, the IoU of the pixels
    predicted as one of its right classes against the salient-object mask (``>= 0.5``, a band of
    ``band`` px around its boundary ignored); 0 when the model has none of those classes.

    Args:
        model: as for :func:`evaluate_photos`.
        photos: ``(file, right class names)`` pairs.
        root: the fetch cache (the salient teacher; the maps go to ``teacher_maps/``, computed once).
        tta: apply the test-time augmentation the model records.

    Returns:
        photo stem -> IoU, and ``mean``.
    """
    from pixelnet.distill import TeacherMaps, read_photo
    from pixelnet.evaluation.evaluate import model_predictor, predict_full_size

    root = Path(root).expanduser()
    maps = TeacherMaps(root / "teacher_maps", cache=root)
    predictor = model_predictor(model, device=device, max_side=max_side, tta=tta)
    names = list(model.config.class_names)
    out: dict[str, float] = {}
    for file, right in photos:
        file = Path(file)
        m, rgb = maps(file), read_photo(file)
        labels = predict_full_size(predictor, "seg", rgb, scales).argmax(0)
        wanted = [names.index(c) for c in right if c in names]
        out[file.stem] = _band_iou(np.isin(labels, wanted), m.salient >= 0.5, band)
        if progress is not None:
            progress(1)
    out["mean"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


def clothing_regions(maps: Sequence[object], names: Sequence[str], *, min_share: float = 0.002,
                     person_cover: float = 0.5) -> dict[str, int]:
    """Are salient regions that the teacher calls clothing people? (issue #25's question)

    Each connected salient region (probability >= 0.5, at least ``min_share`` of the photo) is named
    by the teacher's categories pooled over it (``other`` left out); a region counts as a person
    when the person mask covers at least ``person_cover`` of it.

    Args:
        maps: :class:`pixelnet.distill.PhotoMaps` of photos.
        names: the category names of ``maps[i].categories``.

    Returns:
        ``regions``, ``clothing`` (regions named clothing), ``clothing_person`` (of those, people),
        ``person`` (regions that are people), ``person_clothing`` (of those, named clothing).
    """
    out = {"regions": 0, "clothing": 0, "clothing_person": 0, "person": 0, "person_clothing": 0}
    names = list(names)
    clothing, other = names.index("clothing"), names.index(OTHER)
    for m in maps:
        regions, n = ndimage.label(m.salient >= 0.5)
        for r in range(1, n + 1):
            inside = regions == r
            if inside.mean() < min_share:
                continue
            pooled = m.categories[:, inside].mean(1)
            pooled[other] = 0.0
            is_clothing = int(pooled.argmax()) == clothing
            is_person = float((m.person[inside] >= 0.5).mean()) >= person_cover
            out["regions"] += 1
            out["clothing"] += is_clothing
            out["clothing_person"] += is_clothing and is_person
            out["person"] += is_person
            out["person_clothing"] += is_person and is_clothing
    return out
