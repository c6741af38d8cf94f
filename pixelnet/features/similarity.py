"""Cosine similarity of one pixel's hypercolumn to every pixel (per tap and whole), and the best matches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    pass

from .dense import HYPERCOLUMN, DenseHypercolumns
from .interp import _EPS, _resample, output_grid


def similarity_maps(source: DenseHypercolumns, y: int, x: int, *, target: DenseHypercolumns | None = None,
                    stride: int = 1) -> dict[str, torch.Tensor]:
    """Cosine similarity of the hypercolumn of pixel ``(y, x)`` to every pixel, per tap and whole.

    Args:
        source: the image of the clicked pixel.
        y, x: the pixel.
        target: the image compared with (default: ``source``); same taps, same feature space.
        stride: output stride on ``target``.

    Returns:
        tap name -> ``(H', W')`` cosine similarity of that tap's features, and
        :data:`HYPERCOLUMN` -> that of the whole hypercolumn (the concatenation), in [-1, 1].
    """
    target = source if target is None else target
    if target.tap_names != source.tap_names:
        raise ValueError(f"different taps: {source.tap_names} vs {target.tap_names}")
    query = source.at(torch.tensor([[y, x]]))[0]  # (C,)
    slices = source.slices()
    ay, ax = target._axes(stride)
    out: dict[str, torch.Tensor] = {}
    dot_all: torch.Tensor | None = None
    n2_all: torch.Tensor | None = None
    q2_all = 0.0
    for t in target.taps:
        q = query[slices[t.name]]
        q2 = float(q.double().pow(2).sum())
        dot = _resample(torch.einsum("c,chw->hw", q, target.maps[t.name])[None], ay[t.name], ax[t.name])[0]
        n2 = target.squared_norms(t.name, stride)
        out[t.name] = (dot / (n2 * q2).sqrt().clamp_min(_EPS)).clamp_(-1, 1)
        dot_all = dot if dot_all is None else dot_all + dot
        n2_all = n2 if n2_all is None else n2_all + n2
        q2_all += q2
    assert dot_all is not None and n2_all is not None
    out[HYPERCOLUMN] = (dot_all / (n2_all * q2_all).sqrt().clamp_min(_EPS)).clamp_(-1, 1)
    return out


def top_matches(maps: Mapping[str, torch.Tensor], k: int = 5, *, key: str = HYPERCOLUMN, stride: int = 1,
                exclude: tuple[int, int] | None = None, radius: int = 0) -> list[dict[str, object]]:
    """The ``k`` pixels most similar by ``maps[key]``, with every map's value there.

    Args:
        maps: name -> ``(H', W')`` from :func:`similarity_maps`.
        k: number of pixels.
        key: the map ranked by.
        stride: the maps' output stride (pixel coordinates are given in the image).
        exclude: a pixel ``(y, x)`` whose neighbourhood is left out (the clicked pixel on its own
            image, whose neighbours match it trivially) ...
        radius: ... up to this Chebyshev distance in pixels.

    Returns:
        Best first: ``{"y", "x", "similarity", "taps": {name: value}}``.
    """
    ref = maps[key]
    if exclude is not None:
        ys, xs = output_grid((ref.shape[0] * stride, ref.shape[1] * stride), stride)
        near = ((ys[:, None] - exclude[0]).abs() <= radius) & ((xs[None, :] - exclude[1]).abs() <= radius)
        ref = ref.masked_fill(near, float("-inf"))
    vals, idx = ref.flatten().topk(min(k, int(torch.isfinite(ref).sum())))
    out = []
    for v, i in zip(vals.tolist(), idx.tolist()):
        r, c = divmod(i, ref.shape[1])
        out.append({"y": stride // 2 + stride * r, "x": stride // 2 + stride * c, "similarity": v,
                    "taps": {n: float(m[r, c]) for n, m in maps.items() if n != key}})
    return out


# ---- PCA -------------------------------------------------------------------------------
