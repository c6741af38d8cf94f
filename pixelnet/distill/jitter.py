"""Colour jitter of a real photo sample (the image only, never its labels)."""

from __future__ import annotations

import numpy as np

__all__ = ["colour_jitter"]


def colour_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness (x0.75-1.25), contrast (x0.75-1.25) and saturation (x0.7-1.3).

    Args:
        image: float ``(H, W, 3)`` RGB in [0, 1].
        rng: draws the three factors, in that order.

    Returns:
        float ``(H, W, 3)`` in [0, 1].
    """
    b, c, s = rng.uniform(0.75, 1.25), rng.uniform(0.75, 1.25), rng.uniform(0.7, 1.3)
    grey = image.mean(axis=-1, keepdims=True)
    image = grey + s * (image - grey)
    return np.clip(((image - image.mean()) * c + image.mean()) * b, 0.0, 1.0)
