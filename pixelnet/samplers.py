"""Pixel samplers: which (image, row, column) positions a mini-batch trains on.

PixelNet (Bansal et al. 2017, Sec. 3) trains on a sparse set of pixels per image
(~2,000 pixels from each of 5 images) instead of the dense grid, fresh at every step,
and only from pixels that carry a label. This module draws those positions.

Every sampler returns a ``LongTensor`` of shape ``[P, 3]`` whose rows are ``(b, y, x)``,
always in that order, on the device of its input. Randomness comes only from the
optional ``torch.Generator`` (which must live on the same device as the input), so a
fixed generator seed gives a fixed sample.

Samplers:

- ``uniform``: uniform over the valid pixels of each image.
- ``stratified``: balanced across the classes present in each image (the review's
  "take some of every colour"), for segmentation.
- ``biased``: a fixed fraction of boundary pixels (paper Table 15), for edges.
- ``all``: every valid pixel (the paper's "all pixels" / FCN-style baseline).

``colour_clusters`` gives an unlabelled image pseudo-classes (k-means in Lab space) so
that stratified sampling can be shown on any picture.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.cluster.vq import kmeans2, vq
from skimage.color import rgb2lab
from torch import Tensor

__all__ = [
    "SAMPLERS",
    "SAMPLER_TASKS",
    "colour_clusters",
    "sample_all",
    "sample_biased",
    "sample_pixels",
    "sample_stratified",
    "sample_uniform",
]

SAMPLERS: tuple[str, ...] = ("uniform", "stratified", "biased", "all")
"""Names accepted by :func:`sample_pixels`."""

SAMPLER_TASKS: dict[str, tuple[str, ...]] = {
    "uniform": ("seg", "normals", "edges"),
    "stratified": ("seg",),
    "biased": ("edges",),
    "all": ("seg", "normals", "edges"),
}
"""For each sampler, the tasks it fits."""

_EMPTY_SHAPE = (0, 3)


def _choose(count: int, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Draw ``n`` indices into ``range(count)``, without replacement when ``count >= n``.

    Args:
        count: number of candidates (> 0).
        n: number of draws (>= 0).
        generator: source of randomness.
        device: device of the result.

    Returns:
        LongTensor ``[n]`` of indices in ``[0, count)``.
    """
    if count >= n:
        return torch.randperm(count, generator=generator, device=device)[:n]
    return torch.randint(count, (n,), generator=generator, device=device)


def _to_byx(b: int, flat: Tensor, width: int) -> Tensor:
    """Turn flat indices of image ``b`` into ``(b, y, x)`` rows.

    Args:
        b: image index in the batch.
        flat: LongTensor ``[P]`` of indices into the flattened ``[H, W]`` image.
        width: image width ``W``.

    Returns:
        LongTensor ``[P, 3]``.
    """
    return torch.stack([torch.full_like(flat, b), flat // width, flat % width], dim=1)


def _cat(rows: list[Tensor], device: torch.device) -> Tensor:
    """Concatenate per-image ``[P_b, 3]`` blocks; an empty list gives ``[0, 3]``."""
    if not rows:
        return torch.zeros(_EMPTY_SHAPE, dtype=torch.long, device=device)
    return torch.cat(rows, dim=0)


def _check_batch(x: Tensor, name: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a ``[B, H, W]`` tensor."""
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a [B, H, W] tensor, got {shape}")


def _check_n(n: int) -> None:
    """Raise ``ValueError`` for a negative sample count."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")


def sample_uniform(valid: Tensor, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Sample ``n`` pixels per image uniformly among its valid pixels.

    Draws without replacement, except for images with fewer than ``n`` valid pixels,
    which are drawn with replacement. Images with no valid pixel contribute nothing.

    Args:
        valid: bool ``[B, H, W]``, True where the pixel may be sampled.
        n: pixels per image.
        generator: source of randomness (same device as ``valid``).

    Returns:
        LongTensor ``[P, 3]`` of ``(b, y, x)`` with ``P <= B * n``.
    """
    _check_batch(valid, "valid")
    _check_n(n)
    width = valid.shape[2]
    rows = []
    for b in range(valid.shape[0]):
        flat = valid[b].reshape(-1).nonzero().squeeze(1)
        if flat.numel() == 0:
            continue
        pick = _choose(flat.numel(), n, generator, valid.device)
        rows.append(_to_byx(b, flat[pick], width))
    return _cat(rows, valid.device)


def _balanced_takes(counts: list[int], n: int) -> list[int]:
    """Split ``n`` draws as evenly as possible over classes of the given sizes.

    Water-filling: classes smaller than their fair share give all their pixels and the
    rest is shared among the larger classes. Requires ``sum(counts) >= n``.

    Args:
        counts: pixels per class.
        n: total draws.

    Returns:
        draws per class (same order as ``counts``), summing to ``n``, each <= its count.
    """
    order = sorted(range(len(counts)), key=lambda i: counts[i])
    takes = [0] * len(counts)
    remaining = n
    for rank, i in enumerate(order):
        share = remaining // (len(order) - rank)
        takes[i] = min(counts[i], share)
        remaining -= takes[i]
    for i in reversed(order):  # rounding leftovers go to the largest classes
        extra = min(remaining, counts[i] - takes[i])
        takes[i] += extra
        remaining -= extra
    return takes


def _stratified_image(
    labels: Tensor, n: int, ignore_index: int, generator: torch.Generator | None
) -> Tensor:
    """Balanced flat indices for one ``[H, W]`` label map (see :func:`sample_stratified`)."""
    flat_labels = labels.reshape(-1)
    flat = (flat_labels != ignore_index).nonzero().squeeze(1)
    if flat.numel() == 0:
        return flat
    values = flat_labels[flat]
    order = torch.sort(values, stable=True).indices
    flat = flat[order]
    counts = torch.unique_consecutive(values[order], return_counts=True)[1].tolist()
    if flat.numel() >= n:
        takes = _balanced_takes(counts, n)
    else:
        takes = [n // len(counts)] * len(counts)
        lucky = torch.randperm(len(counts), generator=generator, device=labels.device)
        for i in lucky[: n % len(counts)].tolist():
            takes[i] += 1
    picks, start = [], 0
    for count, take in zip(counts, takes):
        picks.append(flat[start + _choose(count, take, generator, labels.device)])
        start += count
    return torch.cat(picks)


def sample_stratified(
    labels: Tensor,
    n: int,
    *,
    ignore_index: int = 255,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample ``n`` pixels per image, balanced across the classes present in it.

    With K classes present, each class gets ``n / K`` draws; a class with fewer pixels
    than its share gives all of them and the remainder goes to the larger classes, so the
    ``n`` pixels are distinct. Only when the whole image has fewer than ``n`` labelled
    pixels are the classes drawn with replacement, in equal shares.

    Args:
        labels: int64 ``[B, H, W]`` class indices.
        n: pixels per image.
        ignore_index: label that is never sampled.
        generator: source of randomness (same device as ``labels``).

    Returns:
        LongTensor ``[P, 3]`` of ``(b, y, x)``; images without labels contribute nothing.
    """
    _check_batch(labels, "labels")
    _check_n(n)
    width = labels.shape[2]
    rows = []
    for b in range(labels.shape[0]):
        flat = _stratified_image(labels[b], n, ignore_index, generator)
        if flat.numel():
            rows.append(_to_byx(b, flat, width))
    return _cat(rows, labels.device)


def sample_biased(
    edges: Tensor,
    n: int,
    *,
    pos_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample ``n`` pixels per image with a fixed fraction of boundary pixels.

    ``round(n * pos_fraction)`` pixels come from the positives (label 1) and the rest
    from the negatives (label 0); each part is drawn with replacement only when it has
    fewer pixels than requested. An image without positives (or without negatives)
    takes all ``n`` pixels from the class it has. Pixels labelled 255 are never drawn.

    Args:
        edges: uint8 ``[B, H, W]`` with 1 = boundary, 0 = non-boundary, 255 = ignore.
        n: pixels per image.
        pos_fraction: fraction of positives, in ``[0, 1]`` (paper: 0.25 / 0.5 / 0.75).
        generator: source of randomness (same device as ``edges``).

    Returns:
        LongTensor ``[P, 3]`` of ``(b, y, x)``.
    """
    _check_batch(edges, "edges")
    _check_n(n)
    if not 0.0 <= pos_fraction <= 1.0:
        raise ValueError(f"pos_fraction must be in [0, 1], got {pos_fraction}")
    width = edges.shape[2]
    n_pos = round(n * pos_fraction)
    rows = []
    for b in range(edges.shape[0]):
        flat = edges[b].reshape(-1)
        pos = (flat == 1).nonzero().squeeze(1)
        neg = (flat == 0).nonzero().squeeze(1)
        take_pos = n_pos if neg.numel() else n
        take_pos = take_pos if pos.numel() else 0
        take_neg = n - take_pos if neg.numel() else 0
        for pool, take in ((pos, take_pos), (neg, take_neg)):
            if take:
                pick = _choose(pool.numel(), take, generator, edges.device)
                rows.append(_to_byx(b, pool[pick], width))
    return _cat(rows, edges.device)


def sample_all(valid: Tensor) -> Tensor:
    """Every valid pixel, in raster order.

    Args:
        valid: bool ``[B, H, W]``.

    Returns:
        LongTensor ``[P, 3]`` of ``(b, y, x)`` with ``P = valid.sum()``.
    """
    _check_batch(valid, "valid")
    return valid.nonzero()


def _valid_for_task(batch: dict[str, Tensor], task: str) -> Tensor:
    """The bool ``[B, H, W]`` mask of labelled pixels for ``task``."""
    if task == "seg":
        return _get(batch, "seg") != 255
    if task == "normals":
        return _get(batch, "valid").bool()
    return _get(batch, "edges") != 255


def _get(batch: dict[str, Tensor], key: str) -> Tensor:
    """``batch[key]`` with a clear error when the key is missing."""
    if key not in batch:
        raise ValueError(f"batch has no {key!r} entry (keys: {sorted(batch)})")
    return batch[key]


def sample_pixels(
    kind: str,
    batch: dict[str, Tensor],
    n: int,
    *,
    task: str,
    pos_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample pixels for ``task`` from a collated batch with the sampler named ``kind``.

    The label tensor is chosen by task: ``seg`` reads ``batch["seg"]`` (255 = ignore),
    ``normals`` reads ``batch["valid"]``, ``edges`` reads ``batch["edges"]`` (255 = ignore).

    Args:
        kind: one of :data:`SAMPLERS`.
        batch: collated sample dict of ``[B, H, W]`` tensors.
        n: pixels per image (unused by ``all``).
        task: ``"seg"``, ``"normals"`` or ``"edges"``.
        pos_fraction: positive fraction for ``biased``.
        generator: source of randomness.

    Returns:
        LongTensor ``[P, 3]`` of ``(b, y, x)``.

    Raises:
        ValueError: unknown ``kind`` or ``task``, a sampler that does not fit the task,
            or a batch without the needed entry.
    """
    if kind not in SAMPLER_TASKS:
        raise ValueError(f"unknown sampler {kind!r}; expected one of {SAMPLERS}")
    if task not in ("seg", "normals", "edges"):
        raise ValueError(f"unknown task {task!r}; expected 'seg', 'normals' or 'edges'")
    if task not in SAMPLER_TASKS[kind]:
        raise ValueError(f"sampler {kind!r} does not fit task {task!r}; it fits {SAMPLER_TASKS[kind]}")
    if kind == "stratified":
        return sample_stratified(_get(batch, "seg"), n, generator=generator)
    if kind == "biased":
        return sample_biased(_get(batch, "edges"), n, pos_fraction=pos_fraction, generator=generator)
    valid = _valid_for_task(batch, task)
    if kind == "all":
        return sample_all(valid)
    return sample_uniform(valid, n, generator=generator)


def colour_clusters(image: np.ndarray, k: int = 6, *, seed: int = 0, fit_pixels: int = 4096) -> np.ndarray:
    """Pseudo-classes for an unlabelled image: k-means on the pixels' Lab colours.

    The centroids are fitted on a random subsample of ``fit_pixels`` pixels
    (``scipy.cluster.vq.kmeans2`` with k-means++ seeding), then every pixel is assigned
    to its nearest centroid. Clusters are numbered by increasing lightness; a cluster
    that ends up empty leaves its number unused.

    Args:
        image: uint8 ``[H, W, 3]`` RGB.
        k: number of clusters.
        seed: seed of the subsample and of the k-means initialisation.
        fit_pixels: pixels used to fit the centroids.

    Returns:
        int64 ``[H, W]`` cluster index in ``[0, k)``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    lab = rgb2lab(image).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    fit = lab[rng.choice(len(lab), size=min(fit_pixels, len(lab)), replace=False)]
    k = min(k, len(np.unique(fit, axis=0)))
    centroids, _ = kmeans2(fit, k, minit="++", rng=rng)
    centroids = centroids[np.argsort(centroids[:, 0], kind="stable")]
    assignment, _ = vq(lab, centroids)
    return assignment.astype(np.int64).reshape(image.shape[:2])
