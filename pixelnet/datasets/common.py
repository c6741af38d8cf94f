"""Shared pieces of the real-dataset loaders: the error type and checked file readers.

Every loader returns samples with the structure documented in
:mod:`pixelnet.synth.scenes` (``image`` uint8 ``[H, W, 3]``, ``seg`` int64 with 255 =
ignore, ``normals`` float32 camera-frame unit vectors, ``edges`` uint8 1 / 0 / 255,
``edges_gt`` bool ``[A, H, W]``, ``valid``, ``depth``, ``name``); keys a dataset does not
have are absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["IGNORE_INDEX", "DatasetError", "check_same_size", "find_root", "read_label_png", "read_list",
           "read_rgb", "require"]

IGNORE_INDEX = 255
"""Label value of pixels that carry no label."""


class DatasetError(ValueError):
    """A dataset on disk is missing a file or has one in an unexpected format."""


def require(path: Path, what: str) -> Path:
    """Return ``path`` if it exists, else raise :class:`DatasetError` naming it.

    Args:
        path: file or directory that must exist.
        what: short description for the message (e.g. ``"BSDS500 ground truth"``).

    Returns:
        ``path``.
    """
    if not path.exists():
        raise DatasetError(f"{what} not found: {path}")
    return path


def find_root(root: str | Path, candidates: tuple[str, ...], marker: tuple[str, ...], name: str) -> Path:
    """Find the dataset directory below ``root``.

    Args:
        root: directory given by the user.
        candidates: relative paths to try, in order (``"."`` is ``root`` itself).
        marker: entries that the dataset directory must contain.
        name: dataset name for the message.

    Returns:
        the first ``root / candidate`` that contains every marker.

    Raises:
        DatasetError: none does.
    """
    root = Path(root)
    for candidate in candidates:
        path = root / candidate
        if all((path / m).exists() for m in marker):
            return path
    tried = ", ".join(str(root / c) for c in candidates)
    raise DatasetError(f"{name} not found under {root}: expected {'/'.join(marker)} in one of: {tried}")


def read_list(path: Path, what: str) -> list[list[str]]:
    """Read a whitespace-separated list file, one entry per non-empty line.

    Args:
        path: the list file.
        what: description for the error message.

    Returns:
        the columns of every line.
    """
    lines = require(path, what).read_text().splitlines()
    rows = [line.split() for line in lines if line.strip()]
    if not rows:
        raise DatasetError(f"{what} is empty: {path}")
    return rows


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image file as uint8 ``[H, W, 3]`` RGB (grey images are expanded)."""
    try:
        with Image.open(require(path, "image")) as image:
            return np.asarray(image.convert("RGB"))
    except OSError as error:
        raise DatasetError(f"cannot decode image {path}: {error}") from error


def read_label_png(path: Path, what: str) -> np.ndarray:
    """Decode a single-channel label PNG (palette or grey) as uint8 ``[H, W]`` indices.

    Raises:
        DatasetError: the file is missing, undecodable or has colour channels (an RGB
            rendering of the labels instead of the indexed PNG).
    """
    try:
        with Image.open(require(path, what)) as image:
            if image.mode not in ("P", "L"):
                raise DatasetError(
                    f"{what} {path} has mode {image.mode!r}; expected an indexed (P) or grey (L) PNG"
                )
            return np.asarray(image)
    except OSError as error:
        raise DatasetError(f"cannot decode {what} {path}: {error}") from error


def check_same_size(image: np.ndarray, size: tuple[int, ...], path: Path) -> None:
    """Raise :class:`DatasetError` when a label of spatial ``size`` ``(H, W)`` does not fit its image."""
    if tuple(image.shape[:2]) != tuple(size):
        raise DatasetError(f"{path}: label size {tuple(size)} differs from image size {image.shape[:2]}")
