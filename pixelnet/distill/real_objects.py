"""Real photos with pixel-accurate *where* pseudo-labels (``--data real-objects``, issue #25).

The photos: the labelled photos of ``train/fetch_data.py`` (GCompris' activity photos and
KPhotoAlbum's demo album, ``CACHE/photos/manifest.json``, split by source file there) and the
``scenes/`` and ``backgrounds/`` photos of the same cache (split by source file as the composites
are). The photos of scikit-image, scikit-learn and matplotlib are never used: they are the
explorer's examples and the figures' held-out photos.

The labels: :func:`pixelnet.distill.objects.where_targets` of the teachers' stored maps
(:class:`~pixelnet.distill.objects.TeacherMaps`): ``background``, ``object``, ``person``, 255
ignored. A sample is an augmented crop: the photo scaled by 0.5 to 2 (relative to fitting its
shorter side to the output), a random crop of the output size (padded with ignored pixels where
the scaled photo is smaller), a horizontal flip and colour jitter of the image only.

Samples: ``image`` uint8 ``(H, W, 3)``, ``seg`` int64 ``(H, W)``, ``name``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from pixelnet.datasets.common import DatasetError
from pixelnet.distill.jitter import colour_jitter
from pixelnet.distill.objects import WHERE_CLASSES, ObjectRule, TeacherMaps, category_targets, where_targets
from pixelnet.distill.pseudo_labels import read_photo
from pixelnet.synth.photos import photo_files
from pixelnet.teachers.imagenet_categories import CATEGORIES

__all__ = ["HELD_OUT_PREFIXES", "RealObjects", "labelled_photos", "object_photo_files"]

HELD_OUT_PREFIXES = ("skimage__", "sklearn__", "matplotlib__")
"""Cache file names of the held-out photos (the explorer's examples and the figures' photos)."""

_SPLIT_STREAM = {"train": 0, "val": 1, "test": 2}
_LENGTHS = {"train": 10_000, "val": 100, "test": 200}
_IGNORE = 255
PERSON_PHOTO = 0.01
"""Least share of a photo labelled ``person`` for it to count as a photo with people."""


def labelled_photos(root: str | Path, split: str | None = None) -> list[tuple[Path, str]]:
    """The photos of ``CACHE/photos/manifest.json`` (``train/fetch_data.py``) with their folder label.

    Args:
        root: the fetch cache.
        split: ``"train"``, ``"val"``, ``"test"``, or None for all.

    Returns:
        ``(file, label)`` pairs in manifest order (label ``""`` for unlabelled photos).

    Raises:
        DatasetError: no manifest.
    """
    root = Path(root).expanduser()
    path = root / "photos" / "manifest.json"
    if not path.is_file():
        raise DatasetError(f"no labelled photos in {root} (run train/fetch_data.py --cache {root})")
    photos = json.loads(path.read_text())["photos"]
    return [(root / p["file"], p.get("label", "")) for p in photos if split is None or p["split"] == split]


def object_photo_files(root: str | Path, split: str) -> list[Path]:
    """Every photo of ``split`` the *where* model may see: the labelled photos and the scene and
    background photos, without the held-out ones (:data:`HELD_OUT_PREFIXES`).

    Raises:
        DatasetError: no photo at all in the split.
    """
    files: list[Path] = []
    try:
        files += [f for f, _ in labelled_photos(root, split)]
    except DatasetError:
        pass
    for folder in ("scenes", "backgrounds"):
        try:
            files += photo_files(Path(root).expanduser(), split, folder)
        except DatasetError:
            pass
    files = [f for f in files if not f.name.startswith(HELD_OUT_PREFIXES)]
    if not files:
        raise DatasetError(f"no real photos of split {split!r} under {root} (run train/fetch_data.py --cache {root})")
    return files


class RealObjects(Dataset):
    """Augmented crops of real photos with *where* pseudo-labels (see the module docstring).

    Args:
        root: the fetch cache.
        split: ``"train"``, ``"val"`` or ``"test"`` (of the source files).
        size: ``(H, W)`` of the samples.
        length: number of samples (default 10,000 / 100 / 200).
        seed: changes every sample.
        rule: the label rule.
        maps: the teachers' maps (default: ``CACHE/teacher_maps``, computed where missing).
        jitter: colour jitter of the images.
        scale_range: the random scale relative to fitting the shorter side to the output.
        targets: ``"where"`` (:data:`WHERE_CLASSES`) or ``"categories"`` (the categories and
            ``person``, :func:`~pixelnet.distill.objects.category_targets`: the direct head compared with).
        person_share: the share of samples drawn from photos with people (a person label on at
            least :data:`PERSON_PHOTO` of the photo): few photos have people (10 of 197 train
            photos), so drawn uniformly a batch of 5 rarely holds one. ``None``: uniformly.

    Raises:
        DatasetError: no photos in the split.
    """

    def __init__(self, root: str | Path, split: str = "train", *, size: tuple[int, int] = (224, 224),
                 length: int | None = None, seed: int = 0, rule: ObjectRule = ObjectRule(),
                 maps: TeacherMaps | None = None, jitter: bool = True,
                 scale_range: tuple[float, float] = (0.5, 2.0), targets: str = "where",
                 person_share: float | None = 0.25) -> None:
        if split not in _SPLIT_STREAM:
            raise ValueError(f"unknown real-objects split {split!r}; expected one of {tuple(_SPLIT_STREAM)}")
        self.root, self.split = Path(root).expanduser(), split
        self.size, self.seed, self.jitter = (int(size[0]), int(size[1])), int(seed), jitter
        self.scale_range = scale_range
        self.length = _LENGTHS[split] if length is None else int(length)
        if targets not in ("where", "categories"):
            raise ValueError(f"unknown targets {targets!r}; expected 'where' or 'categories'")
        self.classes = WHERE_CLASSES if targets == "where" else (*CATEGORIES, "person")
        self.files = object_photo_files(self.root, split)
        maps = maps or TeacherMaps(self.root / "teacher_maps", cache=self.root)
        maps.write_rule(rule)
        self._photos = [read_photo(f) for f in self.files]
        labels = []
        for f, photo in zip(self.files, self._photos):
            m = maps(f)
            if m.salient.shape != photo.shape[:2]:
                raise DatasetError(f"teacher maps of {f.name} are {m.salient.shape}, the photo {photo.shape[:2]}")
            labels.append(where_targets(m.salient, m.person, rule) if targets == "where" else category_targets(m, rule))
        self._labels = labels
        person = WHERE_CLASSES.index("person") if targets == "where" else len(CATEGORIES)
        self.with_people = [k for k, lab in enumerate(labels) if (lab == person).mean() >= PERSON_PHOTO]
        if person_share is not None and not 0.0 <= person_share <= 1.0:
            raise ValueError(f"person_share is a share in [0, 1], not {person_share}")
        self._without_people = sorted(set(range(len(labels))) - set(self.with_people))
        self.person_share = person_share if self.with_people and self._without_people else None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        index %= self.length
        rng = np.random.default_rng((self.seed, _SPLIT_STREAM[self.split], index))
        if self.person_share is None:
            k = int(rng.integers(len(self.files)))
        else:
            pool = self.with_people if rng.random() < self.person_share else self._without_people
            k = pool[int(rng.integers(len(pool)))]
        photo, labels = self._photos[k], self._labels[k]
        h, w = self.size
        ph, pw = photo.shape[:2]
        scale = max(h / ph, w / pw) * float(np.exp(rng.uniform(*np.log(self.scale_range))))
        sh, sw = max(1, round(ph * scale)), max(1, round(pw * scale))
        image = np.asarray(Image.fromarray(photo).resize((sw, sh), Image.Resampling.BILINEAR))
        seg = np.asarray(Image.fromarray(labels).resize((sw, sh), Image.Resampling.NEAREST))
        out_img = np.zeros((h, w, 3), np.uint8)
        out_seg = np.full((h, w), _IGNORE, np.uint8)
        y0, x0 = int(rng.integers(0, max(sh - h, 0) + 1)), int(rng.integers(0, max(sw - w, 0) + 1))
        oy, ox = int(rng.integers(0, max(h - sh, 0) + 1)), int(rng.integers(0, max(w - sw, 0) + 1))
        ch, cw = min(h, sh), min(w, sw)
        out_img[oy:oy + ch, ox:ox + cw] = image[y0:y0 + ch, x0:x0 + cw]
        out_seg[oy:oy + ch, ox:ox + cw] = seg[y0:y0 + ch, x0:x0 + cw]
        if rng.random() < 0.5:
            out_img, out_seg = out_img[:, ::-1], out_seg[:, ::-1]
        img = out_img.astype(np.float32) / 255.0
        if self.jitter:
            img = colour_jitter(img, rng)
        return {"image": np.ascontiguousarray((img * 255 + 0.5).astype(np.uint8)),
                "seg": np.ascontiguousarray(out_seg).astype(np.int64), "name": f"real-objects-{self.split}-{index:06d}"}
