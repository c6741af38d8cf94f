"""Splits of fetched photos by source file: a hash of the file's path in its package, then a fix-up
so that every folder has at least a quarter of its photos in ``test``.

No random state: a photo's split depends only on its source path (and, through the fix-up, on the
other paths of its folders), so re-runs and other machines give the same splits.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

__all__ = ["MIN_TEST_FRACTION", "PHOTO_SPLIT_BANDS", "source_hash", "split_photos"]

PHOTO_SPLIT_BANDS = {"test": 0.30, "val": 0.05}
"""A photo whose :func:`source_hash` is below 0.30 is ``test``, in [0.30, 0.35) ``val``, else ``train``."""

MIN_TEST_FRACTION = 0.25
"""Every folder has at least ``ceil(0.25 * n)`` of its ``n`` photos in ``test``."""


def source_hash(key: str) -> float:
    """A number in [0, 1) that depends only on ``key`` (the first 8 bytes of its SHA-256).

    Args:
        key: a photo's source path, e.g. ``"gcompris-qt-data/usr/.../fishes.rcc/.../fish1.webp"``.

    Returns:
        the hash as a fraction.
    """
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2.0 ** 64


def split_photos(keys: Mapping[str, str], folders: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Assign photos to ``train`` / ``val`` / ``test`` by the hash of their source path.

    First by :data:`PHOTO_SPLIT_BANDS`; then, folder by folder in name order, where fewer than
    ``ceil(MIN_TEST_FRACTION * n)`` photos of a folder are in ``test``, its ``train`` photos (then its
    ``val`` photos) of lowest hash move to ``test``. Moves only ever add to ``test``, so a folder
    checked earlier stays satisfied.

    Args:
        keys: photo id -> the source path its hash is taken of.
        folders: folder name -> ids of the photos in it (a photo found in two folders is in both).

    Returns:
        photo id -> split, for every id of ``keys``.
    """
    h = {pid: source_hash(key) for pid, key in keys.items()}
    test, val = PHOTO_SPLIT_BANDS["test"], PHOTO_SPLIT_BANDS["test"] + PHOTO_SPLIT_BANDS["val"]
    split = {pid: "test" if x < test else "val" if x < val else "train" for pid, x in h.items()}
    for name in sorted(folders):
        members = sorted(set(folders[name]))
        short = math.ceil(MIN_TEST_FRACTION * len(members)) - sum(split[p] == "test" for p in members)
        movable = sorted((p for p in members if split[p] != "test"), key=lambda p: (split[p] == "val", h[p], p))
        for p in movable[:max(short, 0)]:
            split[p] = "test"
    return split
