"""BSDS500 boundaries (Arbelaez et al. 2011) and the HED augmented training set (Xie & Tu 2015).

Layouts read:

- BSDS500 as published (``BSR_bsds500.tgz``)::

      BSR/BSDS500/data/images/{train,val,test}/<id>.jpg
      BSR/BSDS500/data/groundTruth/{train,val,test}/<id>.mat

  Each ``.mat`` holds ``groundTruth``, a 1 x A cell array (A ~ 5 annotators) of structs
  with fields ``Segmentation`` and ``Boundaries`` (H x W). ``root`` may be the directory
  that contains ``BSR``, ``BSDS500`` or ``data``, or the ``data`` directory itself.
- HED-BSDS (``HED-BSDS.tar``): ``train_pair.lst`` lines ``<image> <label png>`` relative
  to the list's directory (``train/aug_data/<aug>/<id>.jpg train/aug_gt/<aug>/<id>.png``);
  the label PNG is the fraction of annotators marking a boundary, scaled to 0..255.
  ``test.lst`` lines hold an image only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import loadmat
from torch.utils.data import Dataset

from pixelnet.datasets.common import (
    IGNORE_INDEX,
    DatasetError,
    check_same_size,
    find_root,
    read_list,
    read_rgb,
    require,
)

__all__ = ["BSDS500", "HEDBSDS", "consensus_edges", "read_bsds_boundaries"]

_BSDS_SPLITS = ("train", "val", "test")


def consensus_edges(boundaries: np.ndarray, consensus: int) -> np.ndarray:
    """Training labels from several annotators (HED / PixelNet convention).

    Args:
        boundaries: bool ``[A, H, W]``, one boundary map per annotator.
        consensus: how many annotators must agree for a positive.

    Returns:
        uint8 ``[H, W]``: 1 where at least ``consensus`` annotators mark a boundary, 0 where
        none does, 255 (ignored) where some but too few do.
    """
    votes = boundaries.sum(axis=0)
    edges = np.full(votes.shape, IGNORE_INDEX, dtype=np.uint8)
    edges[votes == 0] = 0
    edges[votes >= consensus] = 1
    return edges


def read_bsds_boundaries(path: Path) -> np.ndarray:
    """Read the annotators' boundary maps from a BSDS500 ground-truth ``.mat`` file.

    Args:
        path: ``groundTruth/<split>/<id>.mat``.

    Returns:
        bool ``[A, H, W]``.

    Raises:
        DatasetError: missing file, or no ``groundTruth`` cell array of structs with
            ``Boundaries`` of equal size.
    """
    try:
        mat = loadmat(require(path, "BSDS500 ground truth"), squeeze_me=True, struct_as_record=False)
    except (ValueError, OSError) as error:
        raise DatasetError(f"cannot read BSDS500 ground truth {path}: {error}") from error
    if "groundTruth" not in mat:
        found = sorted(k for k in mat if not k.startswith("_"))
        raise DatasetError(f"{path} has no 'groundTruth' variable (found {found})")
    maps = []
    for annotator in np.atleast_1d(mat["groundTruth"]):
        boundaries = getattr(annotator, "Boundaries", None)
        if not isinstance(boundaries, np.ndarray) or boundaries.ndim != 2:
            raise DatasetError(f"{path}: groundTruth entries must be structs with a 2-D 'Boundaries' field")
        maps.append(boundaries.astype(bool))
    if not maps or len({m.shape for m in maps}) != 1:
        raise DatasetError(f"{path}: annotators' boundary maps are missing or of different sizes")
    return np.stack(maps)


class BSDS500(Dataset):
    """BSDS500 images with boundary labels.

    A sample has ``image``, ``edges`` (uint8 1 / 0 / 255, see :func:`consensus_edges`),
    ``edges_gt`` (bool ``[A, H, W]``, every annotator, for evaluation) and ``name`` (the
    image id).

    Args:
        root: directory containing ``BSR/BSDS500/data``, ``BSDS500/data``, ``data``, or
            the ``data`` directory itself.
        split: ``"train"`` (200), ``"val"`` (100) or ``"test"`` (200 images).
        consensus: annotators needed for a positive training label (paper: 3).
    """

    def __init__(self, root: str | Path, split: str = "train", *, consensus: int = 3) -> None:
        if split not in _BSDS_SPLITS:
            raise ValueError(f"unknown BSDS500 split {split!r}; expected one of {_BSDS_SPLITS}")
        if consensus < 1:
            raise ValueError(f"consensus must be >= 1, got {consensus}")
        data = find_root(root, ("BSR/BSDS500/data", "BSDS500/data", "data", "."), ("images", "groundTruth"),
                         "BSDS500")
        self.image_dir = require(data / "images" / split, "BSDS500 image directory")
        self.gt_dir = require(data / "groundTruth" / split, "BSDS500 ground-truth directory")
        self.ids = sorted(p.stem for p in self.image_dir.glob("*.jpg"))
        if not self.ids:
            raise DatasetError(f"no .jpg images in {self.image_dir}")
        self.consensus = consensus

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        image_id = self.ids[index]
        image = read_rgb(self.image_dir / f"{image_id}.jpg")
        gt_path = self.gt_dir / f"{image_id}.mat"
        boundaries = read_bsds_boundaries(gt_path)
        check_same_size(image, boundaries.shape[1:], gt_path)
        return {"image": image, "edges": consensus_edges(boundaries, self.consensus), "edges_gt": boundaries,
                "name": image_id}


class HEDBSDS(Dataset):
    """The HED augmented BSDS500 training set (or its test list).

    A sample has ``image`` and ``name``; for list lines with a label also ``edges``
    (1 where the label is at least ``threshold`` of 255, 0 where it is 0, 255 in
    between, following HED / RCF) and ``edges_gt`` (bool ``[1, H, W]``, label >= threshold).

    Args:
        root: the ``HED-BSDS`` directory or its parent.
        list_file: list file name inside it (``train_pair.lst`` or ``test.lst``).
        threshold: fraction of annotators for a positive label.
    """

    def __init__(
        self, root: str | Path, *, list_file: str = "train_pair.lst", threshold: float = 0.5
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.root = find_root(root, ("HED-BSDS", "."), (list_file,), "HED-BSDS")
        self.pairs = read_list(self.root / list_file, "HED-BSDS list file")
        for number, row in enumerate(self.pairs, start=1):
            if len(row) not in (1, 2):
                where = f"{self.root / list_file}:{number}"
                raise DatasetError(f"{where}: expected '<image> [<label>]', got {row}")
        self.threshold = threshold

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        row = self.pairs[index]
        image = read_rgb(self.root / row[0])
        name = "_".join(Path(row[0]).with_suffix("").parts[-2:])
        if len(row) == 1:
            return {"image": image, "name": name}
        label_path = require(self.root / row[1], "HED-BSDS label")
        with Image.open(label_path) as label_image:
            label = np.asarray(label_image.convert("L"))
        check_same_size(image, label.shape, label_path)
        positive = label >= self.threshold * 255
        edges = np.where(positive, 1, np.where(label == 0, 0, IGNORE_INDEX)).astype(np.uint8)
        return {"image": image, "edges": edges, "edges_gt": positive[None], "name": name}
