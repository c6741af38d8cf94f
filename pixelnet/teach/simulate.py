"""Simulated user strokes on a ground-truth segmentation (for benchmarks and tests).

A deterministic generator draws thin strokes (one pixel wide line segments) inside each
ground-truth region, at least ``margin`` pixels away from its border, until the labelled pixels
reach the requested fraction of the image, shared equally by the regions' classes (a class with too
little interior gets what fits). Users paint the same way: a few lines well inside each object.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["simulate_scribbles"]


def _segment(y0: float, x0: float, angle: float, length: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(length)
    return (np.round(y0 + t * np.sin(angle)).astype(int), np.round(x0 + t * np.cos(angle)).astype(int))


def simulate_scribbles(seg: np.ndarray, fraction: float, *, seed: int = 0, margin: int = 3,
                       stroke_length: int = 24, ignore_index: int = 255) -> np.ndarray:
    """Strokes covering about ``fraction`` of the pixels of a ground-truth map.

    Args:
        seg: ``(H, W)`` int class map, classes ``0..K-1`` (``ignore_index`` = no class).
        fraction: labelled fraction of all pixels to reach (e.g. 0.005 for 0.5 %).
        seed: the strokes are a function of ``(seg, fraction, seed)``.
        margin: minimum distance in pixels from a stroke to its region's border.
        stroke_length: pixels per stroke segment at most.

    Returns:
        ``(H, W)`` uint8 labels: 0 = unlabelled, ``k + 1`` = class ``k`` (the scribble convention).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    h, w = seg.shape
    out = np.zeros((h, w), np.uint8)
    classes = [int(c) for c in np.unique(seg) if c != ignore_index]
    quota = max(1, round(fraction * h * w / max(len(classes), 1)))
    for c in classes:
        region = seg == c
        inside = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1] > margin
        ys, xs = np.nonzero(inside)
        if ys.size == 0:
            continue
        done, tries = 0, 0
        while done < quota and tries < 50 * quota:
            tries += 1
            i = rng.integers(ys.size)
            yy, xx = _segment(ys[i], xs[i], rng.uniform(0, np.pi), min(stroke_length, quota - done + 1))
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            yy, xx = yy[ok], xx[ok]
            keep = np.cumprod(inside[yy, xx]).astype(bool)  # the stroke stops where it would leave the interior
            yy, xx = yy[keep], xx[keep]
            new = out[yy, xx] == 0
            out[yy[new], xx[new]] = c + 1
            done += int(new.sum())
    return out
