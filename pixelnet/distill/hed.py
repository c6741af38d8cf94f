"""Edges of real photos, distilled from HED (``--data hed-distill``; issue #14, item 3).

No edge ground truth of real photos can be had offline, but HED (:mod:`pixelnet.teachers.hed`,
trained on BSDS500's human boundaries) can label them. Each photo of ``backgrounds/`` (the
``train/fetch_data.py`` cache, split by source file as for ``composites``) is run through HED
once, at its longer side resized to 512 px; the fused probability map is stored next to the
photos (``hed/<photo>.png``, 16-bit) and reused. A sample is an augmented crop of a photo (40
to 100 % of the largest crop of the output's aspect ratio, a horizontal flip, brightness,
contrast and saturation jitter), and its target is the same crop of HED's map, thinned by the
BSDS non-maximum suppression and turned into labels:

- ``1`` (edge): the thinned map is at least ``positive`` (default 0.5);
- ``255`` (ignored): not an edge, but HED's unthinned probability is at least ``ignore``
  (default 0.15): the uncertain band and the thick flanks of HED's response, which a
  one-pixel-wide target should neither reward nor punish;
- ``0`` elsewhere.

So HED's confidence shapes the targets (uncertain pixels drop out of the loss), but the labels
themselves are hard: the engine's class-balanced edge loss takes 0 / 1 / 255 targets. Mixed with
SynthScenes' exact boundaries, ``--data synth+hed-distill`` alternates the two.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from pixelnet.synth.photos import photo_files

__all__ = ["HED_MAP_SIDE", "HEDDistilled", "MixedEdges", "hed_map", "hed_targets"]

HED_MAP_SIDE = 512
"""Longer side at which HED runs on each photo (and its map is stored)."""

_SPLIT_STREAM = {"train": 0, "val": 1, "test": 2}
_EDGE_KEYS = ("image", "edges", "edges_gt", "name")


def _wrap(index: int, length: int) -> int:
    """``index`` in ``[0, length)``, negative indices from the end, as a sequence does."""
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for {length} samples")
    return index % length


def hed_targets(prob: np.ndarray, *, positive: float = 0.5, ignore: float = 0.15) -> np.ndarray:
    """Edge labels of an HED probability map.

    Args:
        prob: float32 ``[H, W]`` HED probabilities (the fused map, not thinned).
        positive: thinned probability from which a pixel is an edge.
        ignore: probability from which a pixel that is not an edge is ignored.

    Returns:
        uint8 ``[H, W]``: 1 edge, 255 ignored, 0 not an edge.
    """
    from pixelnet.metrics.edges import edge_nms  # pyEdgeEval's compiled NMS

    thin = edge_nms(prob.astype(np.float32))
    out = np.where(prob >= ignore, 255, 0).astype(np.uint8)
    out[thin >= positive] = 1
    return out


def _run_hed() -> Callable[[np.ndarray], np.ndarray]:
    from pixelnet.teachers import load_reference

    predictor = load_reference("hed").predictor(device="cpu", max_side=HED_MAP_SIDE)
    return lambda rgb: predictor.predict(rgb)["edges"]


def hed_map(photo: Path, store: Path, run: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """HED's fused map of ``photo`` at a longer side of 512 px, float32 ``[h, w]`` in [0, 1],
    computed once and stored as a 16-bit PNG in ``store``.

    Args:
        photo: an RGB photo file.
        store: folder of the stored maps.
        run: RGB uint8 ``[h, w, 3]`` -> probabilities ``[h, w]`` (default: HED, loaded once).
    """
    path = store / f"{photo.stem}.png"
    if path.is_file():
        with Image.open(path) as im:
            return np.asarray(im, dtype=np.float32) / 65535.0
    rgb = _photo(photo)
    prob = np.clip((run or _run_hed())(rgb), 0.0, 1.0)
    store.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(prob * 65535).astype(np.uint16)).save(path)
    return np.round(prob * 65535).astype(np.float32) / 65535.0  # exactly what is stored


def _photo(path: Path) -> np.ndarray:
    from pixelnet.distill.pseudo_labels import read_photo  # the same decoding, at HED's side

    return read_photo(path, HED_MAP_SIDE)

class HEDDistilled(Dataset):
    """Augmented crops of real photos with HED-distilled edge labels, generated per index.

    Args:
        root: the fetch cache (``backgrounds/``; HED's maps are stored in ``hed/``).
        split: ``"train"``, ``"val"`` or ``"test"`` (of the photos, by source file).
        size: ``(H, W)`` of the samples.
        length: number of samples.
        seed: changes every sample.
        positive: see :func:`hed_targets`.
        ignore: see :func:`hed_targets`.
        jitter: colour jitter of the image (the target does not change).
        run_hed: HED replacement for tests (RGB -> probabilities).

    Raises:
        DatasetError: no ``backgrounds/`` or no photo in the split.
    """

    def __init__(self, root: str | Path, split: str = "train", *, size: tuple[int, int] = (256, 256),
                 length: int | None = None, seed: int = 0, positive: float = 0.5, ignore: float = 0.15,
                 jitter: bool = True, run_hed: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        if split not in _SPLIT_STREAM:
            raise ValueError(f"unknown hed-distill split {split!r}; expected one of {tuple(_SPLIT_STREAM)}")
        self.files = photo_files(root, split)
        self.split, self.size, self.seed = split, (int(size[0]), int(size[1])), int(seed)
        self.length = {"train": 10_000, "val": 100, "test": 200}[split] if length is None else int(length)
        self.positive, self.ignore, self.jitter = positive, ignore, jitter
        store = Path(root) / "hed"
        run = run_hed
        if run is None and any(not (store / f"{f.stem}.png").is_file() for f in self.files):
            run = _run_hed()  # loaded once, only when a map is missing
        # photos and maps are small (<= 512 px): decoded once, in the main process
        self._photos = [_photo(f) for f in self.files]
        self._maps = [hed_map(f, store, run) for f in self.files]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        index = _wrap(index, self.length)
        rng = np.random.default_rng((self.seed, _SPLIT_STREAM[self.split], index))
        k = int(rng.integers(len(self._photos)))
        photo, prob = self._photos[k], self._maps[k]
        h, w = self.size
        ph, pw = prob.shape
        scale = min(pw / w, ph / h) * rng.uniform(0.4, 1.0)  # crop of aspect w:h
        cw, ch = max(1.0, w * scale), max(1.0, h * scale)
        x0, y0 = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
        box = (x0, y0, x0 + cw, y0 + ch)
        image = np.asarray(Image.fromarray(photo).resize((w, h), Image.Resampling.BILINEAR, box=box),
                           dtype=np.float32) / 255.0
        target = np.asarray(Image.fromarray(prob).resize((w, h), Image.Resampling.BILINEAR, box=box))
        if rng.random() < 0.5:
            image, target = image[:, ::-1], target[:, ::-1]
        b, c, s = rng.uniform(0.75, 1.25), rng.uniform(0.75, 1.25), rng.uniform(0.7, 1.3)
        if self.jitter:
            grey = image.mean(axis=-1, keepdims=True)
            image = grey + s * (image - grey)
            image = np.clip(((image - image.mean()) * c + image.mean()) * b, 0.0, 1.0)
        edges = hed_targets(np.ascontiguousarray(target), positive=self.positive, ignore=self.ignore)
        return {"image": np.ascontiguousarray((image * 255 + 0.5).astype(np.uint8)), "edges": edges,
                "edges_gt": (edges == 1)[None], "name": f"hed-distill-{self.split}-{index:06d}"}


class MixedEdges(Dataset):
    """Two edge datasets interleaved: even items from ``a``, odd items from ``b`` (each cycled),
    keeping only the keys every edges sample has (``image``, ``edges``, ``edges_gt``, ``name``).

    Args:
        a: e.g. SynthScenes (exact boundaries).
        b: e.g. :class:`HEDDistilled`.
        length: number of items (default: twice the longer one).
    """

    def __init__(self, a: Dataset, b: Dataset, length: int | None = None) -> None:
        self.a, self.b = a, b
        self.length = 2 * max(len(a), len(b)) if length is None else int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        index = _wrap(index, self.length)
        src = self.a if index % 2 == 0 else self.b
        sample = src[(index // 2) % len(src)]
        return {k: sample[k] for k in _EDGE_KEYS if k in sample}
