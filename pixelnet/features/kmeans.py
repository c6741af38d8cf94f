"""k-means segments of dense hypercolumns and a segment's per-tap profile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    pass

from .dense import DenseHypercolumns, _samples
from .interp import _EPS, _Axis, _resample, output_grid


def kmeans(x: torch.Tensor, k: int, *, seed: int = 0, iters: int = 50) -> torch.Tensor:
    """Lloyd's k-means with k-means++ seeding, deterministic given ``seed``.

    Args:
        x: ``(N, C)`` points (N >= k).
        k: number of clusters.

    Returns:
        ``(k, C)`` centroids, ordered by cluster size (largest first).
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"cannot make {k} clusters of {n} points")
    g = torch.Generator().manual_seed(seed)
    x = x.float()
    x2 = x.pow(2).sum(1)
    cent = x[torch.randint(n, (1,), generator=g)]
    d2 = (x2 - 2 * x @ cent[0] + cent[0].pow(2).sum()).clamp_min(0)
    for _ in range(1, k):
        p = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1 / n)
        c = x[torch.multinomial(p, 1, generator=g)]
        cent = torch.cat([cent, c])
        d2 = torch.minimum(d2, (x2 - 2 * x @ c[0] + c[0].pow(2).sum()).clamp_min(0))
    labels = torch.full((n,), -1, dtype=torch.long)
    for _ in range(iters):
        dist = x2[:, None] - 2 * x @ cent.T + cent.pow(2).sum(1)[None]  # (N, k)
        new = dist.argmin(1)
        if torch.equal(new, labels):
            break
        labels = new
        onehot = torch.nn.functional.one_hot(labels, k).T.to(x.dtype)  # (k, N): sums as one matrix product
        counts = onehot.sum(1)
        sums = onehot @ x
        empty = counts == 0
        cent = torch.where(empty[:, None], cent, sums / counts.clamp_min(1)[:, None])
        if bool(empty.any()):  # re-seed empty clusters at the points farthest from their centroid
            far = dist.gather(1, labels[:, None])[:, 0].argsort(descending=True)
            cent[empty] = x[far[: int(empty.sum())]]
    dist = x2[:, None] - 2 * x @ cent.T + cent.pow(2).sum(1)[None]
    counts = torch.bincount(dist.argmin(1), minlength=k)
    order = sorted(range(k), key=lambda j: (-int(counts[j]), j))
    return cent[order]


@dataclass(frozen=True)
class KMeansModel:
    """k-means centroids of hypercolumns.

    Attributes:
        taps: the taps of the hypercolumns clustered.
        centroids: ``(k, C)``, largest cluster (on the fitted pixels) first.
    """

    taps: tuple[str, ...]
    centroids: torch.Tensor


def fit_kmeans(images: DenseHypercolumns | Sequence[DenseHypercolumns], k: int,
               taps: str | Sequence[str] | None = None, *, samples: int = 2048, seed: int = 0,
               iters: int = 20) -> KMeansModel:
    """k-means of the hypercolumns of ``samples`` pixels (shared among the images).

    Args:
        images: one or more images (same taps and feature space).
        k: number of segments, 2..16.
        taps: tap selection (default all).
    """
    if not 2 <= k <= 16:
        raise ValueError(f"k must be in 2..16, got {k}")
    images = [images] if isinstance(images, DenseHypercolumns) else list(images)
    sel = [im.select(taps) for im in images]
    return KMeansModel(tuple(sel[0].tap_names), kmeans(_samples(sel, samples, seed), k, seed=seed, iters=iters))


def kmeans_labels(image: DenseHypercolumns, model: KMeansModel, *, stride: int = 1) -> torch.Tensor:
    """Nearest centroid of every hypercolumn: ``argmin_j ||c_j||² - 2 c_j·h(p)`` (``||h(p)||²``
    is the same for every j), a linear map computed at tap resolution.

    Returns:
        ``(H', W')`` int64 segment indices.
    """
    sub = image.select(list(model.taps))
    c = model.centroids
    weights = {n: -2 * c[:, s] for n, s in sub.slices().items()}
    return sub.project(weights, c.pow(2).sum(1), stride=stride, reduce=lambda z: z.argmin(0))


@dataclass(frozen=True)
class SegmentProfile:
    """Per-tap profile of one segment.

    Attributes:
        pixels: number of pixels in the segment.
        mean: tap name -> ``(C_t,)`` mean of the tap's features over the segment.
        distinct: tap name -> RMS over channels of ``(segment mean - image mean) / image std``
            (how far the segment stands out in that tap, in image standard deviations).
        coherence: tap name -> mean cosine similarity of the segment's pixels to the segment mean
            (how alike its pixels are in that tap).
    """

    pixels: int
    mean: dict[str, torch.Tensor]
    distinct: dict[str, float]
    coherence: dict[str, float]


def segment_profile(image: DenseHypercolumns, labels: torch.Tensor, segment: int, *,
                    stride: int = 1) -> SegmentProfile:
    """The mean per-tap profile of the pixels labelled ``segment``.

    The mean over a pixel set is exact without a dense hypercolumn: the set's mask is splatted
    onto each tap's cells with the transposed interpolation weights, then contracted with the map.

    Args:
        image: the hypercolumns (any feature space; ``distinct`` uses this space's own moments).
        labels: ``(H', W')`` segment indices on the grid of ``stride``.
        segment: the segment.
    """
    ys, xs = output_grid(image.size, stride)
    if tuple(labels.shape) != (len(ys), len(xs)):
        raise ValueError(f"labels of shape {tuple(labels.shape)} do not match stride {stride}")
    mask = (labels == segment).double()
    count = int(mask.sum())
    if count == 0:
        raise ValueError(f"segment {segment} has no pixels")
    moments = image.moments()
    means, distinct, coherence = {}, {}, {}
    for t in image.taps:
        f = image.maps[t.name].double()
        ay, ax = _Axis.of(ys, f.shape[1], t), _Axis.of(xs, f.shape[2], t)
        cells = ay.matrix(f.shape[1]).T @ mask @ ax.matrix(f.shape[2])  # splat: A_yᵀ mask A_x, (h_t, w_t)
        mu = torch.einsum("chw,hw->c", f, cells) / count
        means[t.name] = mu.float()
        m = moments[t.name]
        distinct[t.name] = float((((mu - m.mean) / m.std) ** 2).mean().sqrt())
        dot = _resample(torch.einsum("c,chw->hw", mu.float(), image.maps[t.name])[None], ay, ax)[0]
        cos = dot / (image.squared_norms(t.name, stride) * float(mu.pow(2).sum())).sqrt().clamp_min(_EPS)
        coherence[t.name] = float((cos.double() * mask).sum() / count)
    return SegmentProfile(count, means, distinct, coherence)
