"""Real photographs as SynthScenes surface textures (``--data synth-real``).

SynthScenes' own textures are procedural or grey-level photos tinted between two colours, so a
model trained on them has never seen real colour statistics. :class:`PhotoTextures` turns crops
of real background photos (the ``backgrounds/`` of the folder ``train/fetch_data.py`` writes)
into materials: the crop, in its own colours, wraps the surface at a real-world scale
(0.8-3 m per crop). Only the albedo changes, so normals, depth, labels and boundaries stay
exact, and the edges inside a photo (a leaf, a window frame, a tile) are texture, not
boundaries: a model learns to ignore them, as it must on real images.

Photos are split by source file with :func:`pixelnet.synth.composites.split_by_source`, the
split of ``--data composites``: SynthScenes' ``test`` scenes are textured only with test
photos, which no training scene ever shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pixelnet.datasets.common import DatasetError
from pixelnet.synth.composites import split_by_source
from pixelnet.synth.textures import Material

__all__ = ["PHOTO_EXTS", "PhotoTextures", "photo_files"]

PHOTO_EXTS = (".jpg", ".jpeg", ".png")
_MAX_SIDE = 384  # texels per photo side kept in memory; a crop covers a whole surface, never more pixels


def photo_files(root: str | Path, split: str, folder: str = "backgrounds") -> list[Path]:
    """The photos ``root/<folder>/*.{jpg,png}`` of ``split``, by source file (as ``composites``).

    Args:
        folder: ``backgrounds`` (photos without objects) or ``scenes`` (photos that show objects,
            animals and people), as ``train/fetch_data.py`` writes them.

    Raises:
        DatasetError: no such folder, or no photo in ``split``.
    """
    where = Path(root) / folder
    if not where.is_dir():
        raise DatasetError(f"photos not found: {where} (run train/fetch_data.py --cache {root})")
    files = [f for f in sorted(where.iterdir()) if f.suffix.lower() in PHOTO_EXTS]
    splits = split_by_source([f.name for f in files])
    chosen = [f for f in files if splits[f.name] == split]
    if not chosen:
        raise DatasetError(f"no photo of split {split!r} in {where} ({len(files)} photos in all)")
    return chosen


class PhotoTextures:
    """The photos of one split, loaded on first use, and materials cut from them.

    Args:
        root: folder holding ``backgrounds/*.{jpg,png}`` (the ``train/fetch_data.py`` cache).
        split: ``"train"``, ``"val"`` or ``"test"``: which photos (by source file) are used.

    Raises:
        DatasetError: no ``backgrounds/`` folder, or no photo in ``split``.
    """

    def __init__(self, root: str | Path, split: str) -> None:
        self.files = photo_files(root, split)
        self.split = split
        self._cache: dict[Path, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.files)

    def photo(self, index: int) -> np.ndarray:
        """Photo ``index`` as float32 ``[h, w, 3]`` in ``[0, 1]``, longer side at most 384 px (cached)."""
        path = self.files[index]
        out = self._cache.get(path)
        if out is None:
            try:
                with Image.open(path) as im:
                    im = im.convert("RGB")
                    im.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.Resampling.LANCZOS)
                    out = np.asarray(im, dtype=np.float32) / 255.0
            except OSError as e:
                raise DatasetError(f"cannot read {path}: {e}") from e
            out.flags.writeable = False
            self._cache[path] = out
        return out

    def material(self, rng: np.random.Generator) -> Material:
        """A ``real`` material: a random square crop (30-100 % of the shorter side) of a random
        photo, sometimes mirrored, with a mild brightness change, tiled every 0.8-3 m and turned by
        at most 20 degrees (walls keep their photos roughly upright).

        Returns:
            a :class:`Material` whose ``source`` is the float32 ``[s, s, 3]`` crop as albedo.
        """
        photo = self.photo(int(rng.integers(len(self.files))))
        h, w = photo.shape[:2]
        side = max(8, int(round(min(h, w) * rng.uniform(0.3, 1.0))))
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = photo[y0 : y0 + side, x0 : x0 + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        gain = np.float32(rng.uniform(0.75, 1.1))
        # an albedo never reaches 0 or 1: the photo's own darkest and brightest become 0.04 and 0.94
        source = np.ascontiguousarray(0.04 + 0.9 * np.clip(crop * gain, 0.0, 1.0), dtype=np.float32)
        grey = np.full(3, 0.5, dtype=np.float32)
        return Material("real", grey, grey, float(rng.uniform(0.8, 3.0)), float(rng.uniform(-0.35, 0.35)), source)
