"""Image input: decode and normalise anything a user may upload to HWC uint8 RGB.

Handles EXIF orientation (the returned array is in displayed orientation), palette,
grayscale, 16-bit, RGBA (composited on white), CMYK, and the first frame of animations.
Refuses decompression bombs and unreadable files with :class:`ImageError`.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageError", "fit_max_side", "load_image", "to_rgb_array", "MAX_PIXELS"]

MAX_PIXELS = 64_000_000  # ~8000 x 8000; larger headers are refused before decoding


class ImageError(ValueError):
    """The input is not a usable image (message is safe to show to a user)."""


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        return np.repeat((arr / top * 255).round().clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = (arr - arr.min()) / max(arr.max() - arr.min(), 1e-12)
        return np.repeat((arr * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def load_image(source: str | Path | bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file (path or bytes) to ``(H, W, 3)`` uint8 RGB.

    Raises:
        ImageError: empty, truncated, non-image, oversized (decompression bomb) input.
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if not data:
        raise ImageError("the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"the image is {w}x{h} pixels; the limit is {max_pixels:,} pixels")
            if w < 1 or h < 1:
                raise ImageError("the image has no pixels")
            img.seek(0)  # first frame of animations
            img.load()
            return _pil_to_rgb(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"the image is too large to decode safely ({e})") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"not a readable image: {e.__class__.__name__}") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"the image file is damaged or truncated ({e})") from e


def to_rgb_array(image: np.ndarray | Image.Image) -> np.ndarray:
    """Accept a PIL image or a numpy array (HW, HW1, HW3, HW4; uint8, uint16 or float in
    [0, 1]) and return ``(H, W, 3)`` uint8 RGB.

    Raises:
        ImageError: for an array of another shape or an empty image.
    """
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image)
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {arr.shape}")
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 257).round().astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float64), 0, 1) * 255).round().astype(np.uint8)
    if arr.shape[2] == 4:
        a = arr[..., 3:4].astype(np.float64) / 255
        arr = (arr[..., :3] * a + 255 * (1 - a)).round().astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def fit_max_side(image: np.ndarray | Image.Image, max_side: int) -> tuple[np.ndarray, float]:
    """An image as RGB, its longer side resized down to ``max_side`` (never up).

    Args:
        image: anything :func:`to_rgb_array` takes.
        max_side: the longest side kept.

    Returns:
        ``(rgb, scale)``: ``(H', W', 3)`` uint8 and the factor applied (1.0 when not resized).
    """
    rgb = to_rgb_array(image)
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
    return rgb, scale
