"""The same photo found twice, even at another resolution: identical pixels, or the same picture
resized (GCompris ships some monuments at 320 px in ``categorization`` and at full size in
``explore_monuments``).

Two photos are the same when their decoded pixels are identical (SHA-256), or when their aspect
ratios agree within 2 % and their 32 x 32 grey thumbnails correlate at 0.99 or more. On GCompris
3.1 and KPhotoAlbum 5.9 the three resized copies correlate at 0.999 and the closest different
photos (two views of the Grand Canyon) at 0.91.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from PIL import Image

__all__ = ["SAME_PHOTO_CORRELATION", "PhotoIndex", "pixels_sha256"]

SAME_PHOTO_CORRELATION = 0.99
"""Thumbnail correlation from which two photos count as one."""
_SIDE = 32
_ASPECT = math.log(1.02)


def pixels_sha256(image: Image.Image) -> str:
    """The SHA-256 of an RGB image's size and pixels.

    Args:
        image: an RGB image.

    Returns:
        the hex digest.
    """
    return hashlib.sha256(f"{image.width}x{image.height}:".encode() + image.tobytes()).hexdigest()


def _thumbnail(image: Image.Image) -> np.ndarray:
    """The image's grey 32 x 32 thumbnail, mean removed, unit length (zeros for a flat image)."""
    grey = np.asarray(image.convert("L").resize((_SIDE, _SIDE), Image.Resampling.BOX), dtype=np.float64).ravel()
    grey -= grey.mean()
    norm = np.linalg.norm(grey)
    return grey / norm if norm > 0 else grey


class PhotoIndex:
    """The photos seen so far; :meth:`find` says whether a new one is one of them."""

    def __init__(self) -> None:
        self._digests: dict[str, int] = {}
        self._thumbs: list[np.ndarray] = []
        self._aspects: list[float] = []

    def find(self, image: Image.Image, digest: str) -> int | None:
        """The index of the photo ``image`` repeats, if any.

        Args:
            image: the decoded RGB photo.
            digest: its :func:`pixels_sha256`.

        Returns:
            the index (order of :meth:`add`) of the same photo, or None.
        """
        if digest in self._digests:
            return self._digests[digest]
        if not self._thumbs:
            return None
        corr = np.stack(self._thumbs) @ _thumbnail(image)
        aspect = math.log(image.width / image.height)
        close = np.abs(np.asarray(self._aspects) - aspect) <= _ASPECT
        corr = np.where(close, corr, -1.0)
        best = int(np.argmax(corr))
        return best if corr[best] >= SAME_PHOTO_CORRELATION else None

    def add(self, image: Image.Image, digest: str) -> int:
        """Remember a photo.

        Args:
            image: the decoded RGB photo.
            digest: its :func:`pixels_sha256`.

        Returns:
            its index.
        """
        index = len(self._thumbs)
        self._digests[digest] = index
        self._thumbs.append(_thumbnail(image))
        self._aspects.append(math.log(image.width / image.height))
        return index
