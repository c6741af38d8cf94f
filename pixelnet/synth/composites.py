"""Real-object composites: real photo cut-outs pasted onto crops of real background photos.

This is copy-paste augmentation (Ghiasi et al., *Simple Copy-Paste is a Strong Data
Augmentation Method for Instance Segmentation*, CVPR 2021) used as a dataset: every sample
is generated from its index, a seed and the split, so labels are exact (a pixel takes the
class of the top-most cut-out whose pasted alpha is at least 0.5, else ``background``) and
any worker count gives the same data.

The folder read (``--data-root``, written by ``train/fetch_data.py``)::

    ROOT/cutouts/<class>/<file>.png      RGBA cut-outs; the folder name is the class
    ROOT/backgrounds/<file>.{jpg,png}    RGB photos

Classes are ``("background", *sorted class folders)``, the same for every split. Cut-outs and
backgrounds are split by **source file** (:func:`split_by_source`): ordered by a hash of the
file name, 20 % of each class's cut-outs and of the backgrounds go to ``test``, 10 % to ``val``
and 70 % to ``train``, so a test object or background is never seen in training and every
class with three cut-outs or more is in every split.

A sample: ``image`` uint8 ``[H, W, 3]``, ``seg`` int64 ``[H, W]`` and ``name``, like every
segmentation dataset (see ``docs/data.md``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from torch.utils.data import Dataset

from pixelnet.datasets.common import DatasetError

__all__ = ["BackgroundCrop", "CLOSE_UP_SCALE", "COMPOSITE_LENGTHS", "COMPOSITE_SPLITS", "Composites", "Paste",
           "composite_classes",
           "split_by_source"]

CLOSE_UP_SCALE: tuple[float, float] = (0.3, 1.6)
"""The cut-out sizes of ``--data composites-close``: up to 1.6x the shorter side, so objects
also fill and overflow the frame as in close-up photos (a cat's face, a cup), not only sit in it."""

COMPOSITE_SPLITS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}
"""Split -> the fraction of each class's cut-outs (and of the backgrounds) that belongs to it."""

COMPOSITE_LENGTHS: dict[str, int] = {"train": 10_000, "val": 300, "test": 1_000}
"""Default number of generated samples per split."""

_SPLIT_STREAM = {"train": 0, "val": 1, "test": 2}
_IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def _name_hash(file_name: str) -> bytes:
    return hashlib.sha256(file_name.encode()).digest()


def split_by_source(file_names: Sequence[str]) -> dict[str, str]:
    """Assign source files (the cut-outs of one class, or the backgrounds) to splits.

    The files are ordered by a hash of their name; the first 20 % (at least one, given three
    files or more) go to ``test``, the next 10 % (at least one) to ``val`` and the rest to
    ``train``. So every split sees every class that has three cut-outs or more, a file never
    belongs to two splits, and the assignment depends only on the set of names.

    Args:
        file_names: file names without folders, e.g. ``["tuxpaint__animals_mammals_badger.png"]``.

    Returns:
        name -> ``"train"``, ``"val"`` or ``"test"``.
    """
    order = sorted(set(file_names), key=lambda n: (_name_hash(n), n))
    n = len(order)
    n_test = max(1, round(COMPOSITE_SPLITS["test"] * n)) if n >= 3 else 0
    n_val = max(1, round(COMPOSITE_SPLITS["val"] * n)) if n >= 3 else 0
    return {name: "test" if i < n_test else "val" if i < n_test + n_val else "train"
            for i, name in enumerate(order)}


def _cutout_files(root: Path) -> dict[str, list[Path]]:
    folder = root / "cutouts"
    if not folder.is_dir():
        raise DatasetError(f"composites cut-outs not found: {folder} (run train/fetch_data.py --cache {root})")
    found = {d.name: sorted(d.glob("*.png")) for d in sorted(folder.iterdir()) if d.is_dir()}
    found = {c: fs for c, fs in found.items() if fs}
    if not found:
        raise DatasetError(f"no cut-outs (<class>/*.png) in {folder}")
    if "background" in found:
        raise DatasetError(f"{folder / 'background'}: 'background' is reserved for the unlabelled pixels")
    return found


def composite_classes(root: str | Path) -> tuple[str, ...]:
    """Class names of the composites in ``root``: ``background`` then the cut-out folders, sorted.

    Raises:
        DatasetError: no ``cutouts/<class>/*.png`` under ``root``.
    """
    return ("background", *_cutout_files(Path(root)))


@dataclass(frozen=True)
class BackgroundCrop:
    """The part of a background photo a composite shows.

    Attributes:
        file: the photo.
        box: ``(x0, y0, x1, y1)`` of the crop as fractions of the photo's width and height.
        flipped: mirrored left-right after cropping.
    """

    file: Path
    box: tuple[float, float, float, float]
    flipped: bool


@dataclass(frozen=True)
class Paste:
    """One pasted cut-out of a sample, in paste order (later ones are on top).

    Attributes:
        label: class index.
        file: the cut-out's file name.
        box: ``(y0, x0, y1, x1)`` of the pasted cut-out in the image (may reach outside it).
        mask: bool ``[H, W]``, where its pasted alpha is at least 0.5 (before later pastes).
    """

    label: int
    file: str
    box: tuple[int, int, int, int]
    mask: np.ndarray


class Composites(Dataset):
    """Real cut-outs on real background crops, generated per index (copy-paste augmentation).

    Per sample: a random crop of a background (40 to 100 % of the largest crop of the output's
    aspect ratio), flipped and colour-jittered; then ``min_objects`` to ``max_objects``
    cut-outs, each of a class drawn uniformly (then a cut-out of that class uniformly), scaled
    to a longer side of ``scale`` (default 20 to 80 %) of the image's shorter side (log-uniform;
    above 100 % the frame crops the object, as in a close-up photo), flipped,
    colour-jittered and sometimes blurred; with probability ``overlap`` a cut-out is centred
    inside the previous one's box, so objects occlude each other. Finally the whole image is
    sometimes blurred. Compositing uses premultiplied alpha.

    Args:
        root: the cache folder (``cutouts/``, ``backgrounds/``).
        split: ``"train"``, ``"val"`` or ``"test"`` (of the source files, see :func:`split_by_source`).
        size: ``(H, W)`` of the samples.
        length: number of samples (default :data:`COMPOSITE_LENGTHS`).
        seed: changes every sample.
        min_objects: fewest cut-outs per sample.
        max_objects: most cut-outs per sample.
        overlap: probability that a cut-out is centred on the previous one.
        jitter: colour and blur jitter (off: only crop, scale, flip and placement vary).
        scale: ``(min, max)`` longer side of a pasted cut-out, as a fraction of the image's
            shorter side.

    Raises:
        DatasetError: missing folders, or a split without cut-outs or backgrounds.
    """

    def __init__(self, root: str | Path, split: str = "train", *, size: tuple[int, int] = (256, 256),
                 length: int | None = None, seed: int = 0, min_objects: int = 1, max_objects: int = 4,
                 overlap: float = 0.5, jitter: bool = True, scale: tuple[float, float] = (0.2, 0.8)) -> None:
        if split not in COMPOSITE_SPLITS:
            raise ValueError(f"unknown composites split {split!r}; expected one of {tuple(COMPOSITE_SPLITS)}")
        if not 1 <= min_objects <= max_objects:
            raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"need 0 < scale min <= max, got {tuple(scale)}")
        self.scale = (float(scale[0]), float(scale[1]))
        self.root = Path(root)
        self.split = split
        self.size = (int(size[0]), int(size[1]))
        self.length = COMPOSITE_LENGTHS[split] if length is None else int(length)
        if self.length < 1:
            raise ValueError(f"length must be >= 1, got {self.length}")
        self.seed = int(seed)
        self.min_objects, self.max_objects = min_objects, max_objects
        self.overlap = float(overlap)
        self.jitter = jitter
        found = _cutout_files(self.root)
        self.classes: tuple[str, ...] = ("background", *found)
        self.cutouts: dict[int, list[Path]] = {}
        for label, cls in enumerate(self.classes[1:], start=1):
            splits = split_by_source([f.name for f in found[cls]])
            files = [f for f in found[cls] if splits[f.name] == split]
            if files:
                self.cutouts[label] = files
        bg_dir = self.root / "backgrounds"
        if not bg_dir.is_dir():
            raise DatasetError(f"composites backgrounds not found: {bg_dir}")
        backgrounds = [f for f in sorted(bg_dir.iterdir()) if f.suffix.lower() in _IMAGE_EXTS]
        splits = split_by_source([f.name for f in backgrounds])
        self.backgrounds = [f for f in backgrounds if splits[f.name] == split]
        if not self.cutouts or not self.backgrounds:
            raise DatasetError(f"composites split {split!r} of {self.root} has {sum(map(len, self.cutouts.values()))}"
                               f" cut-outs and {len(self.backgrounds)} backgrounds; it needs both")
        self._images: dict[Path, Image.Image] = {}

    def __len__(self) -> int:
        return self.length

    def _load(self, path: Path, mode: str) -> Image.Image:
        im = self._images.get(path)
        if im is None:
            try:
                with Image.open(path) as f:
                    im = f.convert(mode)
            except OSError as e:
                raise DatasetError(f"cannot read {path}: {e}") from e
            self._images[path] = im
        return im

    def _background(self, rng: np.random.Generator) -> tuple[np.ndarray, BackgroundCrop]:
        h, w = self.size
        path = self.backgrounds[rng.integers(len(self.backgrounds))]
        bg = self._load(path, "RGB")
        bw, bh = bg.size
        scale = min(bw / w, bh / h)  # the largest crop of aspect w:h
        frac = rng.uniform(0.4, 1.0)
        cw, ch = max(1.0, w * scale * frac), max(1.0, h * scale * frac)
        x0, y0 = rng.uniform(0, bw - cw), rng.uniform(0, bh - ch)
        box = (x0 / bw, y0 / bh, (x0 + cw) / bw, (y0 + ch) / bh)
        crop = bg.resize((w, h), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
        out = np.asarray(crop, dtype=np.float32) / 255.0  # (H, W, 3)
        flipped = bool(rng.random() < 0.5)
        if flipped:
            out = out[:, ::-1]
        return self._colour(out, rng), BackgroundCrop(path, box, flipped)

    def _colour(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Brightness, contrast and saturation jitter of an RGB array in [0, 1] (``[..., 3]``)."""
        b, c, s = rng.uniform(0.75, 1.25), rng.uniform(0.75, 1.25), rng.uniform(0.7, 1.3)
        if not self.jitter:
            return np.ascontiguousarray(rgb)
        grey = rgb.mean(axis=-1, keepdims=True)
        rgb = grey + s * (rgb - grey)
        rgb = (rgb - rgb.mean()) * c + rgb.mean()
        return np.clip(rgb * b, 0.0, 1.0)

    def _cutout(self, rng: np.random.Generator, label: int) -> tuple[np.ndarray, np.ndarray, str]:
        """A transformed cut-out: premultiplied RGB ``[h, w, 3]``, alpha ``[h, w]``, file name."""
        files = self.cutouts[label]
        path = files[rng.integers(len(files))]
        im = self._load(path, "RGBA")
        side = min(self.size) * float(np.exp(rng.uniform(np.log(self.scale[0]), np.log(self.scale[1]))))
        k = side / max(im.size)
        ow, oh = max(1, round(im.size[0] * k)), max(1, round(im.size[1] * k))
        pm = im.convert("RGBa").resize((ow, oh), Image.Resampling.BILINEAR)  # premultiplied resize
        blur = rng.random() < 0.25
        sigma = rng.uniform(0.5, 1.5)
        if blur and self.jitter:
            pm = pm.filter(ImageFilter.GaussianBlur(sigma))
        arr = np.asarray(pm, dtype=np.float32) / 255.0  # (h, w, 4), RGB premultiplied
        if rng.random() < 0.5:
            arr = arr[:, ::-1]
        alpha = arr[..., 3]
        rgb = arr[..., :3] / np.maximum(alpha, 1e-6)[..., None]
        rgb = self._colour(np.clip(rgb, 0.0, 1.0), rng) * alpha[..., None]
        return rgb, np.ascontiguousarray(alpha), path.name

    def compose(self, index: int) -> tuple[dict[str, np.ndarray | str], list[Paste]]:
        """Generate sample ``index`` and report what was pasted where.

        Returns:
            ``(sample, pastes)``: the sample dict (``image`` uint8 ``[H, W, 3]``, ``seg`` int64
            ``[H, W]``, ``name``) and the :class:`Paste` records in paste order.
        """
        sample, pastes, _ = self.compose_on(index)
        return sample, pastes

    def compose_on(self, index: int) -> tuple[dict[str, np.ndarray | str], list[Paste], BackgroundCrop]:
        """:meth:`compose`, plus which part of which background photo the sample shows."""
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} composites")
        index %= self.length
        rng = np.random.default_rng((self.seed, _SPLIT_STREAM[self.split], index))
        h, w = self.size
        canvas, crop = self._background(rng)  # (H, W, 3) float in [0, 1]
        seg = np.zeros((h, w), dtype=np.int64)
        labels = sorted(self.cutouts)
        pastes: list[Paste] = []
        for _ in range(int(rng.integers(self.min_objects, self.max_objects + 1))):
            label = labels[rng.integers(len(labels))]
            rgb, alpha, name = self._cutout(rng, label)
            oh, ow = alpha.shape
            if pastes and rng.random() < self.overlap:
                py0, px0, py1, px1 = pastes[-1].box
                cy, cx = rng.uniform(py0, py1), rng.uniform(px0, px1)
            else:
                cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            y0, x0 = int(round(cy - oh / 2)), int(round(cx - ow / 2))
            # the part of the cut-out inside the image
            iy0, ix0, iy1, ix1 = max(y0, 0), max(x0, 0), min(y0 + oh, h), min(x0 + ow, w)
            mask = np.zeros((h, w), dtype=bool)
            if iy0 < iy1 and ix0 < ix1:
                a = alpha[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
                region = canvas[iy0:iy1, ix0:ix1]
                canvas[iy0:iy1, ix0:ix1] = rgb[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] + (1.0 - a[..., None]) * region
                mask[iy0:iy1, ix0:ix1] = a >= 0.5
                seg[mask] = label
            pastes.append(Paste(label=label, file=name, box=(y0, x0, y0 + oh, x0 + ow), mask=mask))
        image = np.clip(canvas * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if rng.random() < 0.2 and self.jitter:
            image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0))))
        sample: dict[str, np.ndarray | str] = {"image": np.ascontiguousarray(image), "seg": seg,
                                                "name": f"composites-{self.split}-{index:06d}"}
        return sample, pastes, crop

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        return self.compose(index)[0]
