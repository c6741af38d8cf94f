"""Surface textures for SynthScenes: procedural patterns and real photographs.

A :class:`Material` maps 2-D surface coordinates (metres) to an RGB albedo. Its pattern is
one of ``plain``, ``checker``, ``stripes``, ``noise`` (two-octave value noise) or
``photo`` (a grey-level photograph shipped with scikit-image: ``brick``, ``grass``,
``gravel``, all public domain / CC0, read from the installed package without network),
blended between two random colours; or ``real``, a colour photo crop used as it is
(:mod:`pixelnet.synth.photos`; :func:`sample_material` never draws it). Materials
are drawn independently of the object class, so texture never gives the class (or an edge)
away.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import skimage.data
from scipy.ndimage import map_coordinates

__all__ = ["PATTERNS", "PHOTOS", "Material", "albedo", "photo_texture", "sample_material"]

PATTERNS: tuple[str, ...] = ("plain", "checker", "stripes", "noise", "photo")
PHOTOS: tuple[str, ...] = ("brick", "grass", "gravel")
_PATTERN_WEIGHTS = (0.15, 0.15, 0.15, 0.25, 0.30)
_NOISE_CELLS = 16


@dataclass(frozen=True)
class Material:
    """A textured albedo.

    Attributes:
        pattern: one of :data:`PATTERNS`.
        colour_a: float32 ``[3]`` albedo where the pattern is 1.
        colour_b: float32 ``[3]`` albedo where the pattern is 0.
        period: size of one pattern tile in metres.
        angle: rotation of the pattern on the surface, radians.
        source: float32 ``[h, w]`` pattern image in ``[0, 1]`` for ``noise`` / ``photo``.
    """

    pattern: str
    colour_a: np.ndarray
    colour_b: np.ndarray
    period: float
    angle: float
    source: np.ndarray | None = None


@cache
def photo_texture(name: str) -> np.ndarray:
    """A scikit-image photograph as a contrast-stretched float32 ``[512, 512]`` in ``[0, 1]``.

    Args:
        name: one of :data:`PHOTOS`.

    Returns:
        the grey-level image (cached after the first call; do not modify it).
    """
    if name not in PHOTOS:
        raise ValueError(f"unknown photo texture {name!r}; expected one of {PHOTOS}")
    image = getattr(skimage.data, name)().astype(np.float32)
    lo, hi = np.percentile(image, [1, 99])
    out = np.clip((image - lo) / (hi - lo), 0.0, 1.0)
    out.flags.writeable = False
    return out


def _value_noise(rng: np.random.Generator) -> np.ndarray:
    """A tileable two-octave value-noise image float32 ``[4c, 4c]`` in ``[0, 1]`` (c = 16 cells)."""
    coarse = rng.random((_NOISE_CELLS, _NOISE_CELLS), dtype=np.float32)
    fine = rng.random((4 * _NOISE_CELLS, 4 * _NOISE_CELLS), dtype=np.float32)
    up = np.linspace(0, _NOISE_CELLS, 4 * _NOISE_CELLS, endpoint=False, dtype=np.float32)
    grid = np.stack(np.meshgrid(up, up, indexing="ij"))
    smooth = map_coordinates(coarse, grid, order=1, mode="grid-wrap")
    noise = 0.7 * smooth + 0.3 * fine
    return (noise - noise.min()) / (noise.max() - noise.min())


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random albedo float32 ``[3]`` in ``[0.05, 0.95]``, mildly saturated."""
    grey = rng.uniform(0.15, 0.9)
    tint = rng.uniform(-0.25, 0.25, size=3)
    return np.clip(grey + tint, 0.05, 0.95).astype(np.float32)


def sample_material(rng: np.random.Generator) -> Material:
    """Draw a random material (pattern, colours, scale and orientation).

    Args:
        rng: source of randomness.

    Returns:
        the material.
    """
    pattern = str(rng.choice(PATTERNS, p=_PATTERN_WEIGHTS))
    colour_a = _random_colour(rng)
    colour_b = _random_colour(rng) if rng.random() < 0.5 else colour_a * np.float32(rng.uniform(0.3, 0.7))
    period = float(rng.uniform(0.8, 2.5) if pattern in ("noise", "photo") else rng.uniform(0.1, 0.6))
    source = None
    if pattern == "noise":
        source = _value_noise(rng)
    elif pattern == "photo":
        source = photo_texture(str(rng.choice(PHOTOS)))
    return Material(pattern, colour_a, colour_b, period, float(rng.uniform(0, np.pi)), source)


def _pattern(material: Material, uv: np.ndarray) -> np.ndarray:
    """Pattern value float32 ``[N]`` in ``[0, 1]`` at surface coordinates ``uv [2, N]`` (metres)."""
    u, v = _texel_coords(material, uv)
    if material.pattern == "plain":
        return np.zeros(uv.shape[1], dtype=np.float32)
    if material.pattern == "checker":
        return ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
    if material.pattern == "stripes":
        return (np.floor(2 * u) % 2).astype(np.float32)
    source = material.source
    if material.pattern == "photo":  # nearest texel: the photo is about as fine as the pixels
        rows = (v * source.shape[0]).astype(np.int64) % source.shape[0]
        cols = (u * source.shape[1]).astype(np.int64) % source.shape[1]
        return source[rows, cols]
    coords = np.stack([v * source.shape[0], u * source.shape[1]])
    return map_coordinates(source, coords, order=1, mode="grid-wrap")


def _texel_coords(material: Material, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pattern coordinates (tiles) ``(u, v)`` of surface coordinates ``uv [2, N]`` (metres)."""
    c, s = float(np.cos(material.angle)), float(np.sin(material.angle))
    scale = 1.0 / material.period
    return (c * uv[0] + s * uv[1]) * scale, (c * uv[1] - s * uv[0]) * scale


def albedo(material: Material, uv: np.ndarray) -> np.ndarray:
    """RGB albedo of a material at surface coordinates.

    Args:
        material: the material; pattern ``real`` (:mod:`pixelnet.synth.photos`) reads its
            colour photo ``source [h, w, 3]`` directly (nearest texel, tiled).
        uv: float32 ``[2, N]`` surface coordinates in metres.

    Returns:
        float32 ``[3, N]`` albedo in ``[0, 1]``.
    """
    if material.pattern == "real":
        source = material.source
        u, v = _texel_coords(material, uv)
        rows = np.floor(v * source.shape[0]).astype(np.int64) % source.shape[0]
        cols = np.floor(u * source.shape[1]).astype(np.int64) % source.shape[1]
        return np.ascontiguousarray(source[rows, cols].T)
    mix = _pattern(material, uv)
    a, b = material.colour_a[:, None], material.colour_b[:, None]
    return b + (a - b) * mix
