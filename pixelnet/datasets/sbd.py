"""SBD (Semantic Boundaries Dataset, Hariharan et al. 2011) and the ``train_aug`` set of VOC 2012.

PixelNet's VOC 2012 results train on the SBD-augmented set (10,582 images): SBD's train and
val images together with VOC 2012 ``train``, minus every image of VOC 2012 ``val`` (the set
the numbers are reported on). Layouts read:

- SBD as published (``benchmark.tgz``)::

      benchmark_RELEASE/dataset/img/<id>.jpg
      benchmark_RELEASE/dataset/cls/<id>.mat      MATLAB struct GTcls, field Segmentation:
                                                  uint8 [H, W], 0 = background, 1..20 classes
      benchmark_RELEASE/dataset/{train,val}.txt   8,498 / 2,857 ids

  ``root`` may be the ``dataset`` directory, ``benchmark_RELEASE``, or the directory holding it.

- ``voc-aug``: a folder holding both VOC 2012 (see :mod:`pixelnet.datasets.pascal`) and SBD, e.g.
  ``ROOT/VOCdevkit/VOC2012`` and ``ROOT/benchmark_RELEASE/dataset``. Split ``train`` is the
  union above; ``val`` is VOC 2012 ``val``. An image in both sets takes VOC's label (it marks
  object borders as void, 255), an SBD-only image SBD's.

Labels use :data:`~pixelnet.datasets.pascal.VOC_CLASSES` (21 classes, 255 = ignore).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
from torch.utils.data import Dataset

from pixelnet.datasets.common import DatasetError, check_same_size, find_root, read_list, read_rgb, require
from pixelnet.datasets.pascal import VOC2012, VOC_CLASSES, check_label_values

__all__ = ["SBD", "VOCAug", "read_sbd_label"]

SBD_CANDIDATES = (".", "dataset", "benchmark_RELEASE/dataset", "SBD/dataset", "SBD/benchmark_RELEASE/dataset")


def read_sbd_label(path: Path) -> np.ndarray:
    """``GTcls.Segmentation`` of an SBD ``cls/<id>.mat`` file as int64 ``[H, W]``.

    Raises:
        DatasetError: unreadable file, no ``GTcls.Segmentation``, or values outside 0..20.
    """
    require(path, "SBD label")
    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except (OSError, ValueError, TypeError, NotImplementedError, scipy.io.matlab.MatReadError) as e:
        raise DatasetError(f"{path}: not a readable MATLAB file ({e})") from e
    gt = mat.get("GTcls")
    seg = getattr(gt, "Segmentation", None)
    if seg is None:
        raise DatasetError(f"{path}: no GTcls.Segmentation (is this an SBD cls/*.mat file?)")
    seg = np.asarray(seg)
    if seg.ndim != 2 or seg.dtype.kind not in "ui":
        raise DatasetError(f"{path}: GTcls.Segmentation must be an integer [H, W] map, got {seg.dtype} {seg.shape}")
    check_label_values(seg, len(VOC_CLASSES), path)
    return seg.astype(np.int64)


class SBD(Dataset):
    """SBD semantic segmentation: ``image``, ``seg`` (21 VOC classes) and ``name``.

    Args:
        root: SBD's ``dataset`` directory, ``benchmark_RELEASE``, or the directory holding it.
        split: ``"train"`` (8,498) or ``"val"`` (2,857).
    """

    splits = ("train", "val")

    def __init__(self, root: str | Path, split: str = "train") -> None:
        if split not in self.splits:
            raise ValueError(f"unknown SBD split {split!r}; expected one of {self.splits}")
        self.root = find_root(root, SBD_CANDIDATES, ("img", "cls"), "SBD")
        self.ids = [row[0] for row in read_list(self.root / f"{split}.txt", f"SBD {split} list")]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        image_id = self.ids[index]
        image = read_rgb(self.root / "img" / f"{image_id}.jpg")
        label_path = self.root / "cls" / f"{image_id}.mat"
        seg = read_sbd_label(label_path)
        check_same_size(image, seg.shape, label_path)
        return {"image": image, "seg": seg, "name": image_id}


class VOCAug(Dataset):
    """VOC 2012 with SBD: ``train`` is the 10,582-image ``train_aug`` set, ``val`` VOC 2012 val.

    Args:
        root: a folder holding VOC 2012 (``VOCdevkit/VOC2012``) and SBD (``benchmark_RELEASE/dataset``).
        split: ``"train"`` (SBD train + val + VOC train, minus VOC val) or ``"val"`` (VOC 2012 val).

    Attributes:
        ids: the image ids, in order: VOC train first, then SBD's (train, then val) not already in.
        sources: per id, ``"voc"`` or ``"sbd"``, where its image and label are read.
    """

    splits = ("train", "val")

    def __init__(self, root: str | Path, split: str = "train") -> None:
        if split not in self.splits:
            raise ValueError(f"unknown voc-aug split {split!r}; expected one of {self.splits}")
        self.voc = VOC2012(root, "val")  # finds the VOC root; val is excluded from train in any case
        voc_val = set(self.voc.ids)
        if split == "val":
            self.ids, self.sources = list(self.voc.ids), ["voc"] * len(self.voc.ids)
            return
        voc_train = VOC2012(root, "train").ids
        try:
            sbd_root = find_root(root, SBD_CANDIDATES, ("img", "cls"), "SBD")
        except DatasetError as e:
            raise DatasetError(f"voc-aug needs SBD beside VOC 2012: {e}") from e
        self.sbd = {s: SBD(sbd_root, s) for s in SBD.splits}
        ids: list[str] = []
        sources: list[str] = []
        seen = set(voc_val)
        for image_id in voc_train:
            if image_id not in seen:
                seen.add(image_id)
                ids.append(image_id)
                sources.append("voc")
        for s in SBD.splits:
            for image_id in self.sbd[s].ids:
                if image_id not in seen:
                    seen.add(image_id)
                    ids.append(image_id)
                    sources.append("sbd")
        self.ids, self.sources = ids, sources
        self.sbd_root = sbd_root

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        image_id = self.ids[index]
        if self.sources[index] == "voc":
            return self.voc.read(image_id)
        image = read_rgb(self.sbd_root / "img" / f"{image_id}.jpg")
        label_path = self.sbd_root / "cls" / f"{image_id}.mat"
        seg = read_sbd_label(label_path)
        check_same_size(image, seg.shape, label_path)
        return {"image": image, "seg": seg, "name": image_id}
