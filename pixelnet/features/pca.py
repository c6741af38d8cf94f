"""PCA of dense hypercolumns to RGB (fitted on sampled pixels, projected at tap resolution)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    pass

from .dense import DenseHypercolumns, _samples


def pca(x: torch.Tensor, k: int = 3, *, seed: int = 0, exact_below: int = 256, iters: int = 4,
        oversample: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Principal components of rows ``x``.

    Exact (eigenvectors of the covariance) for at most ``exact_below`` columns, else a
    randomised subspace iteration with ``k + oversample`` vectors and ``iters`` power steps,
    then an exact SVD inside that subspace (Halko et al. 2011); deterministic given ``seed``.
    Signs are fixed so that each component's largest-magnitude entry is positive.

    Args:
        x: ``(N, C)``.
        k: number of components (<= min(N, C)).

    Returns:
        ``(mean (C,), components (k, C) orthonormal rows, singular values (k,))``.
    """
    n, c = x.shape
    k = min(k, n, c)
    mean = x.mean(0)
    xc = x - mean
    if c <= exact_below:
        xc = xc.double()
        evals, evecs = torch.linalg.eigh(xc.T @ xc)  # ascending
        comps = evecs[:, -k:].flip(1).T
        sv = evals[-k:].flip(0).clamp_min(0).sqrt()
    else:
        g = torch.Generator().manual_seed(seed)
        q = torch.linalg.qr(xc @ torch.randn(c, min(c, k + oversample), generator=g, dtype=xc.dtype)).Q
        for _ in range(iters):
            q = torch.linalg.qr(xc @ torch.linalg.qr(xc.T @ q).Q).Q
        _, s, vt = torch.linalg.svd(q.T @ xc, full_matrices=False)
        comps, sv = vt[:k], s[:k]
    sign = comps.gather(1, comps.abs().argmax(1, keepdim=True)).sign()
    sign[sign == 0] = 1
    return mean, (comps * sign).float(), sv.float()


@dataclass(frozen=True)
class PCAModel:
    """Three principal components of hypercolumns and the range mapped to RGB [0, 1].

    Attributes:
        taps: the taps of the hypercolumns fitted.
        mean: ``(C,)``; components: ``(3, C)``; lo, hi: ``(3,)`` the 1st and 99th percentile of
            each component's projections on the fitted pixels.
    """

    taps: tuple[str, ...]
    mean: torch.Tensor
    components: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    singular_values: torch.Tensor = field(default_factory=lambda: torch.zeros(3))


def fit_pca(images: DenseHypercolumns | Sequence[DenseHypercolumns], taps: str | Sequence[str] | None = None, *,
            samples: int = 2048, seed: int = 0) -> PCAModel:
    """Fit three principal components to the hypercolumns of ``samples`` pixels (shared among
    the images, so that one colour means the same feature in each).

    Args:
        images: one or more images (same taps and feature space).
        taps: tap selection (default all).
        samples: pixels to fit on (all pixels of small images).
        seed: pixel subsample and randomised PCA seed.
    """
    images = [images] if isinstance(images, DenseHypercolumns) else list(images)
    sel = [im.select(taps) for im in images]
    x = _samples(sel, samples, seed)  # (N, C)
    mean, comps, sv = pca(x, 3, seed=seed)
    if comps.shape[0] < 3:  # fewer than 3 channels: pad with zero components (grey)
        comps = torch.cat([comps, comps.new_zeros(3 - comps.shape[0], comps.shape[1])])
        sv = torch.cat([sv, sv.new_zeros(3 - sv.shape[0])])
    proj = (x - mean) @ comps.T  # (N, 3)
    lo, hi = torch.quantile(proj, 0.01, dim=0), torch.quantile(proj, 0.99, dim=0)
    return PCAModel(tuple(sel[0].tap_names), mean, comps, lo, hi, sv)


def pca_rgb(image: DenseHypercolumns, model: PCAModel, *, stride: int = 1) -> torch.Tensor:
    """Hypercolumns coloured by their first three principal components.

    Returns:
        ``(H', W', 3)`` float32 in [0, 1] (component i -> channel i, 1st..99th percentile stretched).
    """
    sub = image.select(list(model.taps))
    span = (model.hi - model.lo).clamp_min(1e-8)
    comps = model.components / span[:, None]  # scaled so that [lo, hi] -> [0, 1]
    bias = -(model.mean @ comps.T) - model.lo / span
    sl = sub.slices()
    rgb = sub.project({n: comps[:, s] for n, s in sl.items()}, bias, stride=stride)  # (3, H', W')
    return rgb.clamp_(0, 1).permute(1, 2, 0).contiguous()


# ---- k-means ---------------------------------------------------------------------------
