"""PASCAL VOC 2012 and PASCAL-Context (59 classes) semantic segmentation.

Layouts read:

- VOC 2012 as published (``VOCtrainval_11-May-2012.tar``)::

      VOCdevkit/VOC2012/JPEGImages/<id>.jpg
      VOCdevkit/VOC2012/SegmentationClass/<id>.png        palette PNG, 0..20, 255 = void
      VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt

- PASCAL-Context as written by mmsegmentation's ``tools/dataset_converters/pascal_context.py``
  (VOC 2010 images plus ``trainval_merged.json``)::

      VOCdevkit/VOC2010/JPEGImages/<id>.jpg
      VOCdevkit/VOC2010/SegmentationClassContext/<id>.png  0 = background, 1..59 classes
      VOCdevkit/VOC2010/ImageSets/SegmentationContext/{train,val}.txt

  In the 59-class setting (the paper's) background is ignored: 0 -> 255, k -> k - 1.

``root`` may be the ``VOC20xx`` directory, ``VOCdevkit``, or the directory holding ``VOCdevkit``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from pixelnet.datasets.common import (
    IGNORE_INDEX,
    DatasetError,
    check_same_size,
    find_root,
    read_label_png,
    read_list,
    read_rgb,
)

__all__ = ["PASCAL_CONTEXT_CLASSES", "VOC_CLASSES", "PascalContext", "VOC2012", "check_label_values"]

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)
"""The 21 PASCAL VOC classes, background included (label 0)."""

PASCAL_CONTEXT_CLASSES: tuple[str, ...] = (
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle",
    "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow",
    "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground",
    "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate", "platform",
    "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa",
    "table", "track", "train", "tree", "truck", "tvmonitor", "wall", "water", "window", "wood",
)
"""The 59 PASCAL-Context classes (mmsegmentation order); label k is ``PASCAL_CONTEXT_CLASSES[k]``."""


class _PascalSegmentation(Dataset):
    """A VOC-style segmentation set: an id list, ``JPEGImages/`` and a label PNG directory."""

    year: str = ""
    label_dir: str = ""
    list_dir: str = ""
    splits: tuple[str, ...] = ()
    name: str = ""

    def __init__(self, root: str | Path, split: str = "train") -> None:
        if split not in self.splits:
            raise ValueError(f"unknown {self.name} split {split!r}; expected one of {self.splits}")
        candidates = (".", f"VOC{self.year}", f"VOCdevkit/VOC{self.year}")
        self.root = find_root(root, candidates, ("JPEGImages", self.label_dir), self.name)
        rows = read_list(self.root / self.list_dir / f"{split}.txt", f"{self.name} {split} list")
        self.ids = [row[0] for row in rows]

    def __len__(self) -> int:
        return len(self.ids)

    def _convert(self, label: np.ndarray, path: Path) -> np.ndarray:
        """Map stored label values to class indices with 255 = ignore (int64 ``[H, W]``)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        return self.read(self.ids[index])

    def read(self, image_id: str) -> dict[str, np.ndarray | str]:
        """The sample of ``image_id`` (any id with files under the root, listed or not)."""
        image = read_rgb(self.root / "JPEGImages" / f"{image_id}.jpg")
        label_path = self.root / self.label_dir / f"{image_id}.png"
        label = read_label_png(label_path, f"{self.name} label")
        check_same_size(image, label.shape, label_path)
        return {"image": image, "seg": self._convert(label, label_path), "name": image_id}


def check_label_values(label: np.ndarray, num_values: int, path: Path) -> None:
    """Raise :class:`DatasetError` for values outside ``[0, num_values) + {255}``."""
    bad = (label >= num_values) & (label != IGNORE_INDEX)
    if bad.any():
        values = np.unique(label[bad])[:5].tolist()
        raise DatasetError(f"{path}: label values {values} outside 0..{num_values - 1} and {IGNORE_INDEX}")


class VOC2012(_PascalSegmentation):
    """PASCAL VOC 2012 segmentation: ``image``, ``seg`` (21 classes, 255 = void border) and ``name``.

    Args:
        root: ``VOC2012``, ``VOCdevkit`` or the directory holding ``VOCdevkit``.
        split: ``"train"`` (1,464), ``"val"`` (1,449) or ``"trainval"``.
    """

    year = "2012"
    label_dir = "SegmentationClass"
    list_dir = "ImageSets/Segmentation"
    splits = ("train", "val", "trainval")
    name = "VOC2012"

    def _convert(self, label: np.ndarray, path: Path) -> np.ndarray:
        check_label_values(label, len(VOC_CLASSES), path)
        return label.astype(np.int64)


class PascalContext(_PascalSegmentation):
    """PASCAL-Context, 59 classes: ``image``, ``seg`` (background and void -> 255) and ``name``.

    Args:
        root: ``VOC2010``, ``VOCdevkit`` or the directory holding ``VOCdevkit``.
        split: ``"train"`` (4,996) or ``"val"`` (5,104).
    """

    year = "2010"
    label_dir = "SegmentationClassContext"
    list_dir = "ImageSets/SegmentationContext"
    splits = ("train", "val")
    name = "PASCAL-Context"

    def _convert(self, label: np.ndarray, path: Path) -> np.ndarray:
        check_label_values(label, len(PASCAL_CONTEXT_CLASSES) + 1, path)
        seg = label.astype(np.int64) - 1
        seg[(label == 0) | (label == IGNORE_INDEX)] = IGNORE_INDEX
        return seg
