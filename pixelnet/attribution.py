"""Exact per-tap attributions of a pixel's prediction (the explorer's pixel inspector).

A PixelNet prediction at pixel p is ``f(h(p))`` where the hypercolumn ``h(p)`` is the
concatenation of one feature vector per tap. Treating the T taps as the players of a
cooperative game, the value of a coalition S is the prediction when the taps in S keep
their features at p and every other tap is replaced by its **baseline**, the tap's mean
feature over the image (the same replacement as switching a tap off in
:meth:`pixelnet.predictor.Predictor.predict`)::

    v(S) = act(head([c_t(p) if t in S else mean_t for t in taps]))

The Shapley value of tap t is the average, over all orders of adding taps, of the change
t brings. With T taps that needs the 2^T coalition values (64 head evaluations for six
taps), which are computed exactly in one batch; no sampling, no approximation. By the
efficiency axiom the contributions add up to ``v(all) - v(none)``: the prediction minus
the prediction at the baseline hypercolumn.

The image-wide view (:func:`tap_contribution_maps`) uses the linearity of the head's
first layer in the hypercolumn: ``W h + b = sum_t W_t c_t + b``. The map of tap t is the
norm of ``W_t (c_t - mean_t)``, its first-layer contribution relative to the baseline.
For a linear head this is exactly the magnitude of the tap's Shapley value at every pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .hypercolumn import sample_hypercolumns
from .model import PixelNet
from .tasks import activate

__all__ = [
    "BASELINE",
    "TapAttribution",
    "coalition_masks",
    "shapley_from_values",
    "shapley_values",
    "tap_baselines",
    "tap_contribution_maps",
    "tap_shapley",
]

BASELINE = "the tap's mean feature over the image"


def coalition_masks(n: int) -> torch.Tensor:
    """All ``2**n`` coalitions of ``n`` players as a bool matrix ``(2**n, n)``; row ``i``
    has player ``j`` present iff bit ``j`` of ``i`` is set."""
    if n < 0 or n > 16:
        raise ValueError(f"exact Shapley values need 0 <= players <= 16, got {n}")
    idx = torch.arange(2**n)[:, None]
    return (idx >> torch.arange(n)[None, :]) & 1 == 1


def shapley_from_values(values: torch.Tensor) -> torch.Tensor:
    """Exact Shapley values from the values of all coalitions.

    Args:
        values: ``(2**n, ...)`` value of every coalition, indexed as in :func:`coalition_masks`.

    Returns:
        ``(n, ...)`` Shapley value of each player (same trailing shape as ``values``).
    """
    m = values.shape[0]
    n = int(round(math.log2(m))) if m > 0 else -1
    if m < 1 or 2**n != m:
        raise ValueError(f"need 2**n coalition values, got {m}")
    masks = coalition_masks(n)
    sizes = masks.sum(1)
    weight = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    flat = values.reshape(m, -1).double()
    out = torch.zeros(n, flat.shape[1], dtype=torch.float64)
    for j in range(n):
        without = (~masks[:, j]).nonzero().squeeze(1)  # coalitions S not containing j
        with_j = without | (1 << j)
        w = torch.tensor([weight[int(k)] for k in sizes[without]], dtype=torch.float64)
        out[j] = (w[:, None] * (flat[with_j] - flat[without])).sum(0)
    return out.to(values.dtype).reshape(n, *values.shape[1:])


def shapley_values(value_fn: Callable[[torch.Tensor], torch.Tensor], n: int) -> torch.Tensor:
    """Exact Shapley values of an ``n``-player game.

    Args:
        value_fn: maps coalition masks ``(M, n)`` bool to values ``(M, ...)``.
        n: number of players.

    Returns:
        ``(n, ...)`` Shapley values; they sum to ``v(all) - v(none)``.
    """
    return shapley_from_values(value_fn(coalition_masks(n)))


def tap_baselines(features: Mapping[str, torch.Tensor],
                  taps: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """Each tap's mean feature over the image: name -> ``(B, C_t)``."""
    names = list(features) if taps is None else list(taps)
    return {n: features[n].mean(dim=(2, 3)) for n in names}


@dataclass
class TapAttribution:
    """Per-tap Shapley contributions at one pixel.

    Attributes:
        taps: tap names (the players), in hypercolumn order.
        contributions: ``(T, K)`` contribution of each tap to each output.
        prediction: ``(K,)`` prediction with every tap at the pixel (``v(all)``).
        baseline: ``(K,)`` prediction with every tap at its baseline (``v(none)``).
        space: ``"activated"`` (probabilities / unit normal) or ``"raw"`` outputs.
    """

    taps: list[str]
    contributions: torch.Tensor
    prediction: torch.Tensor
    baseline: torch.Tensor
    space: str

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (lists of floats)."""
        return {
            "taps": list(self.taps),
            "contributions": self.contributions.tolist(),
            "prediction": self.prediction.tolist(),
            "baseline_prediction": self.baseline.tolist(),
            "space": self.space,
            "baseline": BASELINE,
        }


@torch.no_grad()
def tap_shapley(model: PixelNet, features: Mapping[str, torch.Tensor], coord: Sequence[int], *,
                players: Sequence[str] | None = None, space: str = "activated",
                baselines: Mapping[str, torch.Tensor] | None = None) -> TapAttribution:
    """Exact Shapley contributions of the taps to one pixel's prediction.

    Args:
        model: the task model.
        features: its tap maps ``name -> (B, C_t, h_t, w_t)`` of the image.
        coord: the pixel ``(b, y, x)``.
        players: taps treated as players (default: all of the model's taps); the others
            stay at their baseline in every coalition (a switched-off tap contributes 0).
        space: ``"activated"`` (attribute the prediction: class probabilities, unit
            normal, edge probability) or ``"raw"`` (attribute the head's raw outputs).
        baselines: per-tap baseline ``(B, C_t)`` (default: :func:`tap_baselines`).

    Returns:
        A :class:`TapAttribution` whose contributions sum to ``prediction - baseline``.
    """
    if space not in ("activated", "raw"):
        raise ValueError(f"space must be 'activated' or 'raw', got {space!r}")
    names = [t.name for t in model.taps]
    players = names if players is None else list(players)
    unknown = [p for p in players if p not in names]
    if unknown:
        raise ValueError(f"unknown taps {unknown}; the model has taps {names}")
    b = int(coord[0])
    base = tap_baselines(features, names) if baselines is None else baselines
    pix = torch.tensor([[int(c) for c in coord]], dtype=torch.long)
    at_pixel = sample_hypercolumns(features, model.taps, pix)[0]  # (C,)
    pieces = torch.split(at_pixel, [t.channels for t in model.taps])
    masks = coalition_masks(len(players))  # (M, n)
    rows = []
    for name, piece in zip(names, pieces):
        mean = base[name][b].to(piece)
        if name in players:
            keep = masks[:, players.index(name)].to(piece.device)[:, None]  # (M, 1)
            rows.append(torch.where(keep, piece[None], mean[None]))  # (M, C_t)
        else:
            rows.append(mean[None].expand(masks.shape[0], -1))
    raw = model.head(torch.cat(rows, dim=1))  # (M, K)
    values = activate(model.task, raw, dim=1) if space == "activated" else raw
    values = values.double().cpu()
    return TapAttribution(taps=players, contributions=shapley_from_values(values),
                          prediction=values[-1], baseline=values[0], space=space)


@torch.no_grad()
def tap_contribution_maps(model: PixelNet, features: Mapping[str, torch.Tensor],
                          size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Image-wide magnitude of each tap's first-layer contribution.

    For tap t this is ``|| W_t (c_t(p) - mean_t) ||_2`` evaluated at the tap's cells
    (first batch item), bilinearly resized to ``size`` when given.

    Args:
        model: the task model.
        features: its tap maps ``name -> (B, C_t, h_t, w_t)``.
        size: output ``(H, W)``; default: each map at its tap's own resolution.

    Returns:
        tap name -> ``(H, W)`` float32 map (non-negative).
    """
    out: dict[str, np.ndarray] = {}
    for tap, w_t in zip(model.taps, model.tap_weights()):
        f = features[tap.name][:1]  # (1, C_t, h, w)
        f = f - f.mean(dim=(2, 3), keepdim=True)
        z = torch.einsum("dc,bchw->bdhw", w_t.to(f.dtype), f)  # (1, D, h, w)
        mag = z.norm(dim=1, keepdim=True)  # (1, 1, h, w)
        if size is not None:
            mag = F.interpolate(mag, size=size, mode="bilinear", align_corners=False)
        out[tap.name] = mag[0, 0].float().cpu().numpy()
    return out

