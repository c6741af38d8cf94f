"""NYU Depth v2 surface normals (and 13-class labels, depth) in the MTAN preprocessed layout.

Layout read (as distributed with MTAN, Liu et al. 2019, and reused by LibMTL / AuxiLearn)::

    <root>/train/{image,label,depth,normal}/<i>.npy   i = 0 .. 794   (795 images)
    <root>/val/{image,label,depth,normal}/<i>.npy     i = 0 .. 653   (654 images)

with, per file: ``image`` float ``[H, W, 3]`` RGB in ``[0, 1]`` (uint8 0..255 is also
accepted), ``label`` ``[H, W]`` 13-class index with -1 = void, ``depth`` ``[H, W, 1]`` or
``[H, W]`` metres with 0 = missing, ``normal`` ``[H, W, 3]`` with all-zero vectors where
there is no normal. The published files are 288 x 384. ``label`` and ``depth`` may be
absent; ``image`` and ``normal`` are required.

Valid pixels are those with a non-zero normal (MTAN's own mask). Normals are returned
renormalised to unit length (zero where invalid) in the files' camera frame multiplied by
``normal_signs``; use it to map the files' axes to the project convention (x right, y
down, z towards the camera) if they differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from pixelnet.datasets.common import IGNORE_INDEX, DatasetError, check_same_size, find_root, require

__all__ = ["NYU13_CLASSES", "NYUv2Normals"]

NYU13_CLASSES: tuple[str, ...] = (
    "bed", "books", "ceiling", "chair", "floor", "furniture", "objects",
    "picture", "sofa", "table", "tv", "wall", "window",
)
"""The 13-class NYUv2 label set (Couprie et al. 2013) used by the MTAN files."""

_SPLITS = ("train", "val")


def _load(path: Path) -> np.ndarray:
    """``np.load`` with a :class:`DatasetError` naming a missing or unreadable file."""
    try:
        return np.load(require(path, "NYUv2 file"), allow_pickle=False)
    except ValueError as error:
        raise DatasetError(f"cannot read {path}: {error}") from error


def _to_uint8_rgb(image: np.ndarray, path: Path) -> np.ndarray:
    """Convert a stored image (float in [0, 1] or 0..255, HWC or CHW) to uint8 ``[H, W, 3]``."""
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[-1] != 3:
        image = np.moveaxis(image, 0, -1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise DatasetError(f"{path}: expected an [H, W, 3] image, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    scale = 255.0 if image.max() <= 1.0 + 1e-6 else 1.0
    return (np.clip(image * scale, 0, 255) + 0.5).astype(np.uint8)


class NYUv2Normals(Dataset):
    """NYUv2 in the MTAN layout (see the module docstring).

    A sample has ``image``, ``normals``, ``valid`` and ``name`` (``"<split>-<i>"``), plus
    ``seg`` (int64, 255 = void) and ``depth`` (float32) when those files exist.

    Args:
        root: directory containing ``train/`` and ``val/`` (or its ``nyuv2`` parent).
        split: ``"train"`` (795 images) or ``"val"`` (654, the standard test set).
        normal_signs: per-axis signs applied to the stored normals.
    """

    def __init__(
        self, root: str | Path, split: str = "train", *, normal_signs: tuple[int, int, int] = (1, 1, 1)
    ) -> None:
        if split not in _SPLITS:
            raise ValueError(f"unknown NYUv2 split {split!r}; expected one of {_SPLITS}")
        base = find_root(root, (".", "nyuv2"), (f"{split}/image", f"{split}/normal"), "NYUv2 (MTAN layout)")
        self.dir = base / split
        stems = [p.stem for p in (self.dir / "image").glob("*.npy")]
        if not stems:
            raise DatasetError(f"no .npy images in {self.dir / 'image'}")
        if not all(s.isdigit() for s in stems):
            example = sorted(stems)[:3]
            raise DatasetError(f"{self.dir / 'image'}: expected files named <index>.npy, found {example}")
        self.indices = sorted(int(s) for s in stems)
        self.normal_signs = np.asarray(normal_signs, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.indices)

    def _normals(self, i: int, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        path = self.dir / "normal" / f"{i}.npy"
        raw = _load(path).astype(np.float32)
        if raw.ndim != 3 or raw.shape[-1] != 3:
            raise DatasetError(f"{path}: expected [H, W, 3] normals, got shape {raw.shape}")
        check_same_size(image, raw.shape[:2], path)
        length = np.linalg.norm(raw, axis=-1, keepdims=True)
        valid = length[..., 0] > 1e-6
        normals = np.where(valid[..., None], raw / np.maximum(length, 1e-6), 0.0) * self.normal_signs
        return normals.astype(np.float32), valid

    def _optional(self, i: int, image: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        label_path = self.dir / "label" / f"{i}.npy"
        if label_path.exists():
            label = _load(label_path)
            check_same_size(image, label.shape, label_path)
            out["seg"] = np.where(label < 0, IGNORE_INDEX, label).astype(np.int64)
        depth_path = self.dir / "depth" / f"{i}.npy"
        if depth_path.exists():
            depth = _load(depth_path).astype(np.float32)
            depth = depth[..., 0] if depth.ndim == 3 else depth
            check_same_size(image, depth.shape, depth_path)
            out["depth"] = depth
        return out

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        i = self.indices[index]
        image_path = self.dir / "image" / f"{i}.npy"
        image = _to_uint8_rgb(_load(image_path), image_path)
        normals, valid = self._normals(i, image)
        split = self.dir.name
        return {"image": image, "normals": normals, "valid": valid, **self._optional(i, image),
                "name": f"{split}-{i}"}
