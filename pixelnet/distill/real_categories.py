"""Real photos with category pseudo-labels, and composites with exact masks (``--data real-categories``).

The training data of the distilled category head (issue #20). Items alternate between two sources:

- **scenes** (even items): an augmented crop of a real photo (the ``scenes/`` and ``backgrounds/``
  of the ``train/fetch_data.py`` cache, split by source file) with its cached pseudo-labels
  (:mod:`pixelnet.distill.pseudo_labels`: the dense ImageNet teacher and the person teacher, with
  the confidence rule; ``255`` ignored). The crop: 40 to 100 % of the largest crop of the output's
  aspect ratio, a horizontal flip, colour jitter of the image only.
- **composites** (odd items): a real cut-out composite (:class:`~pixelnet.synth.composites.Composites`,
  same split) whose masks are exact. A cut-out's pixels take *its* category: the dense teacher
  run once on the cut-out alone, restricted to the categories of its composites class (a Tux Paint
  "animals" stamp is a dog, a bird, ... but never a vehicle), cached in ``cutouts.json``. The
  background's pixels take the cached pseudo-labels of the background photo, cropped as the
  composite crops it; an object category or ``person`` there is a teacher's mistake (the
  backgrounds were chosen free of objects) and is ignored.

Samples: ``image`` uint8 ``(H, W, 3)``, ``seg`` int64 ``(H, W)`` over
:data:`~pixelnet.distill.pseudo_labels.PSEUDO_CLASSES` with ``255`` ignored, ``name``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from pixelnet.datasets.common import DatasetError
from pixelnet.distill.jitter import colour_jitter
from pixelnet.distill.pseudo_labels import (
    COMPOSITE_CLASS,
    PSEUDO_CLASSES,
    LabelRule,
    PseudoLabeler,
    cached_labels,
    cached_probs,
    read_photo,
    sample_labels,
    write_rule,
)
from pixelnet.synth.composites import BackgroundCrop, Composites
from pixelnet.synth.photos import photo_files

__all__ = ["RealCategories", "real_photo_files"]

_SPLIT_STREAM = {"train": 0, "val": 1, "test": 2}
_LENGTHS = {"train": 10_000, "val": 100, "test": 200}
_IGNORE = 255


def real_photo_files(root: str | Path, split: str) -> list[Path]:
    """Every real photo of ``split``: ``scenes/`` (objects, animals, people) and ``backgrounds/``,
    each split by source file as the composites are.

    Raises:
        DatasetError: no photo at all in the split.
    """
    files: list[Path] = []
    for folder in ("scenes", "backgrounds"):
        try:
            files += photo_files(root, split, folder)
        except DatasetError:
            pass
    if not files:
        raise DatasetError(f"no real photos of split {split!r} under {root} (run train/fetch_data.py --cache {root})")
    return files


def _crop_labels(labels: np.ndarray, crop: BackgroundCrop, size: tuple[int, int]) -> np.ndarray:
    """The part of a label map a composite's background shows, at the composite's ``size``."""
    lh, lw = labels.shape
    x0, y0, x1, y1 = crop.box
    out = np.asarray(Image.fromarray(labels).resize((size[1], size[0]), Image.Resampling.NEAREST,
                                                    box=(x0 * lw, y0 * lh, x1 * lw, y1 * lh)))
    return out[:, ::-1] if crop.flipped else out


class RealCategories(Dataset):
    """Pseudo-labelled real photos and exactly masked composites, alternating (see the module docstring).

    Args:
        root: the fetch cache.
        split: ``"train"``, ``"val"`` or ``"test"`` (of the source files).
        size: ``(H, W)`` of the samples.
        length: number of samples (default 10,000 / 100 / 200).
        seed: changes every sample.
        rule: the pseudo-labels' confidence rule.
        labeler: the teachers (default: loaded once, only if a label is not cached yet).
        jitter: colour jitter of the images.

    Raises:
        DatasetError: no photos or no composites in the split.
    """

    def __init__(self, root: str | Path, split: str = "train", *, size: tuple[int, int] = (256, 256),
                 length: int | None = None, seed: int = 0, rule: LabelRule = LabelRule(),
                 labeler: PseudoLabeler | None = None, jitter: bool = True) -> None:
        if split not in _SPLIT_STREAM:
            raise ValueError(f"unknown real-categories split {split!r}; expected one of {tuple(_SPLIT_STREAM)}")
        self.root, self.split = Path(root).expanduser(), split
        self.size, self.seed, self.jitter = (int(size[0]), int(size[1])), int(seed), jitter
        self.length = _LENGTHS[split] if length is None else int(length)
        self.classes = PSEUDO_CLASSES
        self.composites = Composites(self.root, split, size=self.size, length=max(1, self.length), seed=seed,
                                     jitter=jitter)
        store = self.root / "pseudo" / rule.key
        self._labeler = labeler
        self._store = store
        self.files = real_photo_files(self.root, split)
        backgrounds = [f for f in self.composites.backgrounds if f not in self.files]
        self._photos = [read_photo(f) for f in self.files]
        self.soft = rule.soft
        if rule.soft:  # probabilities, a label drawn per pixel and sample
            self._probs = {f: cached_probs(f, store, self._teacher_probs) for f in self.files + backgrounds}
        else:
            self._labels = {f: cached_labels(f, store, self._teacher) for f in self.files + backgrounds}
        self._cutout_category = self._cutout_categories(store)
        write_rule(store, rule)

    def _teachers(self) -> PseudoLabeler:
        """The teachers, loaded on first need only (cached labels need none)."""
        if self._labeler is None:
            self._labeler = PseudoLabeler(cache=self.root)
        return self._labeler

    def _teacher(self, rgb: np.ndarray) -> np.ndarray:
        return self._teachers()(rgb)

    def _teacher_probs(self, rgb: np.ndarray) -> np.ndarray:
        return self._teachers().probs(rgb)

    def _crop_seg(self, file: Path, crop: BackgroundCrop, rng: np.random.Generator) -> np.ndarray:
        """int64 labels of the part of ``file`` that ``crop`` shows, at the sample's size: the stored
        hard labels, or (soft) labels drawn from the stored probabilities."""
        if not self.soft:
            return _crop_labels(self._labels[file], crop, self.size).astype(np.int64)
        probs = self._probs[file]
        _, ph, pw = probs.shape
        x0, y0, x1, y1 = crop.box
        box = (x0 * pw, y0 * ph, x1 * pw, y1 * ph)
        h, w = self.size
        up = np.stack([np.asarray(Image.fromarray(c, "F").resize((w, h), Image.Resampling.BILINEAR, box=box))
                       for c in probs])
        seg = sample_labels(up, rng)
        return np.ascontiguousarray(seg[:, ::-1]) if crop.flipped else seg

    def _cutout_categories(self, store: Path) -> dict[str, int]:
        """Cut-out file name -> category index (computed once, kept in ``cutouts.json``)."""
        path = store / "cutouts.json"
        known: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
        out: dict[str, int] = {}
        changed = False
        for label, files in self.composites.cutouts.items():
            cls = self.composites.classes[label]
            allowed = [i for i, c in enumerate(PSEUDO_CLASSES) if COMPOSITE_CLASS.get(c) == cls]
            if not allowed:
                raise DatasetError(f"no category belongs to the composites class {cls!r}")
            for f in files:
                if f.name not in known:
                    with Image.open(f) as im:
                        rgba = np.asarray(im.convert("RGBA"))
                    known[f.name] = PSEUDO_CLASSES[self._teachers().cutout_category(rgba, allowed)]
                    changed = True
                out[f.name] = PSEUDO_CLASSES.index(known[f.name])
        if changed:
            store.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(dict(sorted(known.items())), indent=1) + "\n")
        return out

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        index %= self.length
        if index % 2:
            return self._composite(index)
        return self._scene(index)

    def _scene(self, index: int) -> dict[str, np.ndarray | str]:
        rng = np.random.default_rng((self.seed, _SPLIT_STREAM[self.split], index))
        k = int(rng.integers(len(self.files)))
        photo = self._photos[k]
        h, w = self.size
        ph, pw = photo.shape[:2]
        scale = min(pw / w, ph / h) * rng.uniform(0.4, 1.0)  # a crop of aspect w:h
        cw, ch = max(1.0, w * scale), max(1.0, h * scale)
        x0, y0 = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
        box = (x0 / pw, y0 / ph, (x0 + cw) / pw, (y0 + ch) / ph)
        flipped = bool(rng.random() < 0.5)
        image = np.asarray(Image.fromarray(photo).resize((w, h), Image.Resampling.BILINEAR,
                                                         box=(box[0] * pw, box[1] * ph, box[2] * pw, box[3] * ph)),
                           dtype=np.float32) / 255.0
        seg = self._crop_seg(self.files[k], BackgroundCrop(self.files[k], box, False), rng)
        if flipped:
            image, seg = image[:, ::-1], seg[:, ::-1]
        if self.jitter:
            image = colour_jitter(image, rng)
        return {"image": np.ascontiguousarray((image * 255 + 0.5).astype(np.uint8)),
                "seg": np.ascontiguousarray(seg).astype(np.int64), "name": f"real-categories-{self.split}-{index:06d}"}

    def _composite(self, index: int) -> dict[str, np.ndarray | str]:
        sample, pastes, crop = self.composites.compose_on(index % len(self.composites))
        seg = self._crop_seg(crop.file, crop, np.random.default_rng((self.seed, _SPLIT_STREAM[self.split], index, 1)))
        seg[(seg != _IGNORE) & np.isin(seg, self._object_classes())] = _IGNORE
        for p in pastes:
            seg[p.mask] = self._cutout_category[p.file]
        return {"image": sample["image"], "seg": seg, "name": f"real-categories-{self.split}-{index:06d}"}

    @staticmethod
    def _object_classes() -> list[int]:
        """Classes that a background photo cannot show: the object categories and ``person``."""
        return [i for i, c in enumerate(PSEUDO_CLASSES) if c in COMPOSITE_CLASS or c == "person"]
