"""Pictures of SynthScenes ground truth: colour maps for labels, normals and edges, the gallery.

Used by ``bench/bench_synthscenes.py`` to write ``docs/gallery.png`` and the demo's
example files in ``assets/examples/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pixelnet.synth.scenes import SYNTH_CLASSES, render_scene

__all__ = ["SYNTH_PALETTE", "colour_edges", "colour_labels", "colour_normals", "gallery", "save_example"]

SYNTH_PALETTE: np.ndarray = np.array(
    [
        [128, 96, 64],  # floor
        [180, 180, 200],  # wall
        [90, 90, 140],  # ceiling
        [230, 60, 40],  # box
        [250, 200, 40],  # sphere
        [60, 180, 75],  # cylinder
        [70, 130, 240],  # cone
        [240, 50, 230],  # ellipsoid
        [0, 200, 200],  # table
        [250, 130, 20],  # picture
    ],
    dtype=np.uint8,
)
"""uint8 ``[len(SYNTH_CLASSES), 3]`` colour of each SynthScenes class."""


def colour_labels(seg: np.ndarray, palette: np.ndarray = SYNTH_PALETTE) -> np.ndarray:
    """Colour a label map: int ``[H, W]`` -> uint8 ``[H, W, 3]`` (255 = ignore is black)."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(palette)] = palette
    return table[np.where((seg >= 0) & (seg < 256), seg, 255)]


def colour_normals(normals: np.ndarray) -> np.ndarray:
    """Colour unit normals: float ``[H, W, 3]`` -> uint8 ``[H, W, 3]`` as ``(n + 1) / 2`` (zero: black)."""
    rgb = np.round((normals + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    rgb[~normals.any(axis=-1)] = 0
    return rgb


def colour_edges(edges: np.ndarray) -> np.ndarray:
    """Colour a boundary map: uint8 ``[H, W]`` (1 / 0 / 255) -> white / black / grey uint8 ``[H, W, 3]``."""
    grey = np.select([edges == 1, edges == 0], [255, 0], 128).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def gallery(seeds: list[int], size: tuple[int, int] = (160, 160), gap: int = 4) -> np.ndarray:
    """One row per seed: RGB | labels | normals | edges.

    Args:
        seeds: scenes to show.
        size: ``(H, W)`` of each tile.
        gap: white pixels between tiles.

    Returns:
        uint8 ``[rows * (H + gap) - gap, 4 * (W + gap) - gap, 3]``.
    """
    def join(parts: list[np.ndarray], axis: int) -> np.ndarray:
        shape = list(parts[0].shape)
        shape[axis] = gap
        spacer = np.full(shape, 255, dtype=np.uint8)
        return np.concatenate([x for part in parts for x in (part, spacer)][:-1], axis=axis)

    rows = []
    for seed in seeds:
        s = render_scene(seed, size)
        tiles = [s["image"], colour_labels(s["seg"]), colour_normals(s["normals"]), colour_edges(s["edges"])]
        rows.append(join(tiles, axis=1))
    return join(rows, axis=0)


def save_example(seed: int, out_dir: str | Path, size: tuple[int, int] = (256, 256)) -> tuple[Path, Path]:
    """Write ``synth_<seed>.png`` (the image) and ``synth_<seed>.npz`` (its ground truth).

    The ``.npz`` holds ``seg`` (uint8 class indices into ``classes``), ``normals`` (uint8
    ``[H, W, 3]``, decode with ``n = v / 127.5 - 1``), ``edges`` (uint8 0 / 1) and
    ``classes`` (the class names).

    Args:
        seed: scene seed.
        out_dir: destination directory (created if needed).
        size: ``(H, W)``.

    Returns:
        paths of the PNG and the NPZ.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    s = render_scene(seed, size)
    png, npz = out_dir / f"synth_{seed}.png", out_dir / f"synth_{seed}.npz"
    Image.fromarray(s["image"]).save(png, optimize=True)
    normals = np.round((s["normals"] + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    np.savez_compressed(npz, seg=s["seg"].astype(np.uint8), normals=normals, edges=s["edges"],
                        classes=np.array(SYNTH_CLASSES))
    return png, npz
