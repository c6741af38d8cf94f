"""Middlebury 2006 *Aloe* (as shipped in Debian's ``opencv-doc``): a second real photo with real
geometry, held out from everything, for occlusion-boundary recall of edge models.

Source: ``opencv-doc``'s ``examples/data/aloeL.jpg`` (left view, 1282 x 1110) and
``aloeGT.png`` (its ground-truth disparity: uint8, in pixels at that resolution, 0 = unknown),
from Middlebury's 2006 datasets (Hirschmüller & Scharstein, CVPR 2007). ``train/fetch_data.py``
copies both to ``CACHE/geometry/aloe/``. The values are disparities at full resolution: matching
the left view against ``aloeR.jpg`` at ``x - d`` gives a mean absolute grey-level difference of
5.9 (5 x 5 box-filtered), against 25.9 to 33.0 for d scaled by 1/3, 1/2, 2 or 3, and 6.5 to 10.8
for d offset by 1 to 3 px (measured once, on the files of opencv-doc 4.6.0).

The sample is at **half resolution** (641 x 555, close to the motorcycle's 741 x 500): the photo
is reduced by 2 x 2 box averaging, the disparity by taking the top-left pixel of each 2 x 2 block
(no averaging across a depth edge) and halving it. The boundaries are
:func:`pixelnet.datasets.middlebury.depth_discontinuities` of that disparity, with the same 2 px jump
(4 px at full resolution). Normals are not derived: the offset ``doffs`` between the views'
principal points, needed for depth, is not in the package (Middlebury's ``dmin.txt``), and depth
up to that offset would bend planes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from pixelnet.datasets.common import DatasetError
from pixelnet.datasets.middlebury import depth_discontinuities

__all__ = ["MiddleburyAloe", "aloe_half_resolution"]

_FILES = ("aloeL.jpg", "aloeGT.png")


def aloe_half_resolution(image: np.ndarray, disparity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Halve a photo (2 x 2 box average) and its disparity (top-left pixel of each block, halved).

    Args:
        image: uint8 ``(H, W, 3)``.
        disparity: float ``(H, W)`` in pixels, NaN where unknown.

    Returns:
        ``(image (H//2, W//2, 3) uint8, disparity (H//2, W//2) float32)``.
    """
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    im = image[:h, :w].astype(np.float32).reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    return np.clip(im + 0.5, 0, 255).astype(np.uint8), (disparity[:h:2, :w:2] / 2.0).astype(np.float32)


class MiddleburyAloe(Dataset):
    """The Aloe scene at half resolution with its occlusion boundaries (one image, edges only).

    A sample has ``image`` uint8 ``(H, W, 3)``, ``edges`` uint8 ``(H, W)`` and ``edges_gt`` bool
    ``(1, H, W)`` (the occlusion boundaries), ``disparity`` float32 ``(H, W)`` (px at this
    resolution, NaN where unknown) and ``name``.

    Args:
        root: the ``train/fetch_data.py`` cache (reads ``geometry/aloe/``).
        split: only ``"test"``.
        jump_px: the disparity jump that separates two surfaces (:func:`depth_discontinuities`).

    Raises:
        DatasetError: the files are missing or unreadable.
    """

    def __init__(self, root: str | Path, split: str = "test", *, jump_px: float = 2.0) -> None:
        if split != "test":
            raise ValueError(f"unknown middlebury-aloe split {split!r}; expected 'test' (one image)")
        self.folder = Path(root) / "geometry" / "aloe"
        missing = [n for n in _FILES if not (self.folder / n).is_file()]
        if missing:
            raise DatasetError(f"{self.folder} lacks {missing} (run train/fetch_data.py --cache {root})")
        self.split = split
        self.jump_px = float(jump_px)
        self._sample: dict[str, Any] | None = None

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index not in (0, -1):
            raise IndexError(f"middlebury-aloe has one image, index {index} is out of range")
        if self._sample is None:
            try:
                with Image.open(self.folder / "aloeL.jpg") as f:
                    left = np.asarray(f.convert("RGB"))
                with Image.open(self.folder / "aloeGT.png") as f:
                    gt = np.asarray(f.convert("L")).astype(np.float32)
            except OSError as e:
                raise DatasetError(f"cannot read the Aloe files in {self.folder}: {e}") from e
            if left.shape[:2] != gt.shape:
                raise DatasetError(f"{self.folder}: photo {left.shape[:2]} and disparity {gt.shape} differ in size")
            image, disp = aloe_half_resolution(left, np.where(gt > 0, gt, np.nan))
            boundaries = depth_discontinuities(disp, jump_px=self.jump_px)
            self._sample = {"image": image, "edges": boundaries.astype(np.uint8), "edges_gt": boundaries[None],
                            "disparity": disp, "name": "aloe"}
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self._sample.items()}
