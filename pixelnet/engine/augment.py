"""Training augmentations on one sample dict (numpy arrays), driven by a numpy generator.

PixelNet's recipes (Bansal et al. 2017, Sec. 5 and Appendix C) use a random scale per image
(e.g. 0.5x or 1x for edges), horizontal flips and, here, a mild colour jitter. Every label
follows the image geometry with its own rule:

- ``seg`` (int64, 255 = ignore), ``valid`` (bool): nearest neighbour;
- ``normals`` (float32 ``(H, W, 3)``, camera frame x right): nearest neighbour, and the
  x component changes sign under a horizontal flip;
- ``edges`` (uint8 1/0/255): a pixel of a downscaled map is an edge if any source pixel
  under it is (thin boundaries survive), otherwise ignored if any is ignored.

Areas added by padding are labelled ignore (``seg``/``edges`` 255, ``valid`` False,
``normals`` zero), so samplers never draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["Augment", "LABEL_KEYS", "PAD_VALUES", "crop_or_pad", "resize_sample"]

LABEL_KEYS = ("seg", "normals", "valid", "edges")
PAD_VALUES = {"image": 0, "seg": 255, "normals": 0.0, "valid": False, "edges": 255}


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    return np.minimum(((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.int64), n_in - 1)


def _resize_edges(edges: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = edges.shape
    oh, ow = size
    if oh >= h and ow >= w:
        return edges[_nearest_index(h, oh)][:, _nearest_index(w, ow)]
    ys = np.unique(np.floor(np.arange(oh) * h / oh).astype(np.int64))
    xs = np.unique(np.floor(np.arange(ow) * w / ow).astype(np.int64))
    if len(ys) != oh or len(xs) != ow:  # mixed up/down scaling: fall back to nearest
        return edges[_nearest_index(h, oh)][:, _nearest_index(w, ow)]

    def box_any(mask: np.ndarray) -> np.ndarray:
        m = np.maximum.reduceat(mask.astype(np.uint8), ys, axis=0)
        return np.maximum.reduceat(m, xs, axis=1).astype(bool)

    out = np.zeros((oh, ow), np.uint8)
    out[box_any(edges == 255)] = 255
    out[box_any(edges == 1)] = 1
    return out


def resize_sample(sample: dict[str, np.ndarray], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Resize the image (bilinear, antialiased) and every label in ``sample`` to ``size`` ``(H, W)``."""
    h, w = sample["image"].shape[:2]
    if (h, w) == tuple(size):
        return dict(sample)
    oh, ow = size
    out = dict(sample)
    out["image"] = np.asarray(Image.fromarray(sample["image"]).resize((ow, oh), Image.BILINEAR))
    iy, ix = _nearest_index(h, oh), _nearest_index(w, ow)
    for key in ("seg", "normals", "valid"):
        if key in sample:
            out[key] = np.ascontiguousarray(sample[key][iy][:, ix])
    if "edges" in sample:
        out["edges"] = _resize_edges(sample["edges"], (oh, ow))
    return out


def crop_or_pad(sample: dict[str, np.ndarray], size: tuple[int, int], top: int,
                left: int) -> dict[str, np.ndarray]:
    """Window ``size`` ``(H, W)`` at ``(top, left)`` (which may be negative or run past the
    image: those areas are padded with :data:`PAD_VALUES`)."""
    oh, ow = size
    h, w = sample["image"].shape[:2]
    out = dict(sample)
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(h, top + oh), min(w, left + ow)
    for key in ("image", *LABEL_KEYS):
        if key not in sample:
            continue
        a = sample[key]
        canvas = np.full((oh, ow, *a.shape[2:]), PAD_VALUES[key], dtype=a.dtype)
        if y1 > y0 and x1 > x0:
            canvas[y0 - top:y1 - top, x0 - left:x1 - left] = a[y0:y1, x0:x1]
        out[key] = canvas
    return out


@dataclass
class Augment:
    """Random scale, crop, flip and colour jitter of a training sample.

    Attributes:
        scales: scale factors, one drawn uniformly per image.
        crop: ``(H, W)`` random crop (padded when the image is smaller); None keeps the size.
        flip: random horizontal flip with probability 0.5.
        jitter: colour jitter strength: brightness, contrast and saturation factors are
            drawn from ``[1 - jitter, 1 + jitter]`` (0 disables).
    """

    scales: Sequence[float] = (1.0,)
    crop: tuple[int, int] | None = None
    flip: bool = True
    jitter: float = 0.0

    def __call__(self, sample: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Augment ``sample`` (image ``(H, W, 3)`` uint8 plus label arrays); returns a new dict."""
        n = len(self.scales)
        s = float(self.scales[rng.integers(n)]) if n > 1 else float(self.scales[0])
        if s != 1.0:
            h, w = sample["image"].shape[:2]
            sample = resize_sample(sample, (max(1, round(h * s)), max(1, round(w * s))))
        if self.crop is not None:
            h, w = sample["image"].shape[:2]
            ch, cw = self.crop
            top = int(rng.integers(h - ch + 1)) if h >= ch else -int(rng.integers(ch - h + 1))
            left = int(rng.integers(w - cw + 1)) if w >= cw else -int(rng.integers(cw - w + 1))
            sample = crop_or_pad(sample, (ch, cw), top, left)
        if self.flip and rng.random() < 0.5:
            sample = {k: (np.ascontiguousarray(v[:, ::-1]) if k in ("image", *LABEL_KEYS) else v)
                      for k, v in sample.items()}
            if "normals" in sample:
                sample["normals"] = sample["normals"] * np.array([-1, 1, 1], dtype=sample["normals"].dtype)
        if self.jitter > 0:
            sample = dict(sample)
            sample["image"] = colour_jitter(sample["image"], rng, self.jitter)
        return sample


def colour_jitter(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Random brightness, contrast and saturation of an ``(H, W, 3)`` uint8 image."""
    x = image.astype(np.float32)
    b, c, s = rng.uniform(1 - strength, 1 + strength, size=3)
    x = x * b
    x = (x - x.mean()) * c + x.mean()
    gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - gray[..., None]) * s + gray[..., None]
    return np.clip(x, 0, 255).round().astype(np.uint8)
