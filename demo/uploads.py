"""What the explorer does to an upload before any model sees it: decode it safely (any source
Gradio hands over), key it by content, and run torch single-threaded for the inspector's many
small products."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelnet.image import ImageError, load_image, to_rgb_array

__all__ = ["MIN_SIDE", "image_digest", "read_upload", "single_thread"]

MIN_SIDE = 16  # smaller images carry too few pixels for the coarsest taps


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch single-threaded inside (callers hold the explorer lock, so no other model
    work runs meanwhile). The inspector's work is a few hundred tiny matrix products; with
    several intra-op threads each costs a thread hand-off (about 10 ms apiece on a busy
    2-core machine versus 0.25 ms on one thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def image_digest(image: np.ndarray) -> str:
    """Content hash of an ``(H, W, 3)`` uint8 image (shape included)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def read_upload(source: str | Path | bytes | np.ndarray | Mapping[str, Any] | None) -> np.ndarray:
    """Decode what the UI or API hands over into ``(H, W, 3)`` uint8 RGB.

    Args:
        source: a file path, raw bytes, an array, or Gradio's file payload (a dict with
            ``path``; the app passes it unprocessed so that decoding errors are ours).

    Raises:
        ImageError: no image, an unreadable one, or one smaller than :data:`MIN_SIDE`.
    """
    if source is None:
        raise ImageError("no image: upload one or pick an example")
    if isinstance(source, Mapping):
        path = source.get("path")
        if not path:
            raise ImageError("the upload has no file (try uploading again)")
        source = path
    if isinstance(source, np.ndarray):
        rgb = to_rgb_array(source)
    else:
        try:
            rgb = load_image(source)
        except FileNotFoundError as e:
            raise ImageError("the uploaded file is no longer available; upload it again") from e
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageError(
            f"the image is {w}x{h} pixels; the explorer needs at least {MIN_SIDE} pixels per side"
        )
    return rgb
