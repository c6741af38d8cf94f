"""The dense first layer (``pixelnet.dense``) against the sampled hypercolumn, tap geometry by tap geometry.

``test_model.py`` checks whole models; here the tap grids are chosen by hand so that both the
nested (coarse-to-fine) path and the direct path are exercised on purpose, including border
cases where a coarser grid's last cell lies past the finer grid's.
"""

from __future__ import annotations

import math

import pytest
import torch

from pixelnet.dense import _aux_grid, _nested_levels, dense_apply
from pixelnet.hypercolumn import sample_hypercolumns
from pixelnet.taps import TapInfo

D = 24


def _taps(geometry: list[tuple[int, float]], channels=(3, 40, 5, 30)) -> list[TapInfo]:
    return [TapInfo(f"t{i}", channels[i % len(channels)], s, o) for i, (s, o) in enumerate(geometry)]


def _knots(n: int, tap: TapInfo) -> int:
    """Cells whose centre ``o + s j`` lies in the image ``[0, n - 1]`` (``ceil(n / s)`` for offset 0)."""
    return math.floor((n - 1 - tap.offset) / tap.stride) + 1


def _features(taps: list[TapInfo], h: int, w: int, b: int = 2, cells=None) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    out = {}
    for t in taps:
        ht, wt = cells(t) if cells else (_knots(h, t), _knots(w, t))
        out[t.name] = torch.randn(b, t.channels, ht, wt, generator=g, dtype=torch.float64)
    return out


def _weights(taps: list[TapInfo]) -> tuple[list[torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return ([torch.randn(D, t.channels, generator=g, dtype=torch.float64) for t in taps],
            torch.randn(D, generator=g, dtype=torch.float64))


def _reference(feats, taps, weights, bias, b, h, w) -> torch.Tensor:
    """First layer at every pixel from the sampled hypercolumn: ``(B, D, H, W)`` (float64, but the
    sampler rounds its interpolation weights to float32, hence the tolerances below)."""
    bb, yy, xx = torch.meshgrid(torch.arange(b), torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack([bb.flatten(), yy.flatten(), xx.flatten()], 1)
    hc = sample_hypercolumns(feats, taps, coords)  # (P, C)
    z = hc @ torch.cat(weights, 1).T + bias
    return z.view(b, h, w, D).permute(0, 3, 1, 2)


NESTED = {
    "same padding (offset 0)": [(2, 0.0), (4, 0.0), (8, 0.0), (16, 0.0), (32, 0.0)],
    "shifted integer offsets": [(1, 0.0), (2, 1.0), (4, 3.0), (8, 3.0)],
    "two taps on one grid": [(2, 0.0), (4, 0.0), (4, 0.0), (12, 0.0)],
    "finest grid starts inside the image": [(2, 1.0), (4, 1.0), (8, 5.0)],
}
NOT_NESTED = {
    "pooling offsets (VGG)": [(1, 0.0), (2, 0.5), (4, 1.5), (8, 3.5)],
    "strides that do not divide": [(2, 0.0), (3, 0.0)],
}


@pytest.mark.parametrize("name", sorted(NESTED))
def test_nested_grids_are_detected(name):
    taps = _taps(NESTED[name])
    feats = _features(taps, 61, 47)
    assert _nested_levels(feats, taps, _weights(taps)[0]) is not None


@pytest.mark.parametrize("name", sorted(NOT_NESTED))
def test_other_grids_fall_back(name):
    taps = _taps(NOT_NESTED[name])
    feats = _features(taps, 61, 47)
    assert _nested_levels(feats, taps, _weights(taps)[0]) is None


def test_coarse_grid_past_the_finer_one_falls_back():
    """A coarser map with one row more than "same" padding gives: its last knot lies past the
    finer grid's last knot, where the finer grid clamps but the coarser one still varies."""
    taps = _taps([(2, 0.0), (4, 0.0)])
    feats = _features(taps, 32, 32, cells=lambda t: (16 if t.stride == 2 else 9, 32 // t.stride))
    assert _nested_levels(feats, taps, _weights(taps)[0]) is None


@pytest.mark.parametrize("name", sorted(NESTED) + sorted(NOT_NESTED))
@pytest.mark.parametrize("size", [(61, 47), (33, 64)])
@pytest.mark.parametrize(("budget_mb", "tile_mb"), [(64.0, 64.0), (0.2, 0.02), (64.0, 0.05)])
def test_dense_apply_equals_sampled_first_layer(name, size, budget_mb, tile_mb):
    taps = _taps({**NESTED, **NOT_NESTED}[name])
    h, w = size
    feats = _features(taps, h, w)
    weights, bias = _weights(taps)
    ref = _reference(feats, taps, weights, bias, 2, h, w)
    out = dense_apply(feats, taps, weights, bias, size, lambda z: z, budget_mb=budget_mb, tile_mb=tile_mb)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_dense_apply_applies_the_rest_per_pixel():
    """``rest`` sees ``(P, D)`` rows and its ``(P, K)`` output lands at the right pixels."""
    taps = _taps(NESTED["same padding (offset 0)"])
    feats = _features(taps, 40, 36)
    weights, bias = _weights(taps)
    rest = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(D, 3)).double()
    out = dense_apply(feats, taps, weights, bias, (40, 36), rest, tile_mb=0.01)
    ref = rest(_reference(feats, taps, weights, bias, 2, 40, 36).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, ref.detach(), atol=1e-5, rtol=1e-5)


def test_dense_apply_where_a_coarse_grid_reaches_past_the_finer_one():
    taps = _taps([(2, 0.0), (4, 0.0)])
    feats = _features(taps, 32, 32, cells=lambda t: (16 if t.stride == 2 else 9, 32 // t.stride))
    weights, bias = _weights(taps)
    ref = _reference(feats, taps, weights, bias, 2, 32, 32)
    out = dense_apply(feats, taps, weights, bias, (32, 32), lambda z: z)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_first_layer_macs_follow_the_path_taken():
    from pixelnet.dense import first_layer_macs

    nested = _taps([(2, 0.0), (4, 0.0)], channels=(3, 40))  # every tap at its own cells
    feats = _features(nested, 32, 32, b=1)
    assert first_layer_macs(feats, nested, D, (32, 32)) == 3 * D * 16 * 16 + 40 * D * 8 * 8
    direct = _taps([(2, 0.5), (4, 1.5)], channels=(3, 40))  # narrow tap (2 * 3 < D) at pixels
    feats = _features(direct, 32, 32, b=1)
    assert first_layer_macs(feats, direct, D, (32, 32)) == 3 * D * 32 * 32 + 40 * D * 8 * 8


# VGG-16's taps (conv1_2 .. conv5_3, fc7): 2x2 floor pooling, so h_t = floor(H / s) cells at offset (s-1)/2
VGG = [(1, 0.0), (2, 0.5), (4, 1.5), (8, 3.5), (16, 7.5), (32, 15.5)]


def _vgg_cells(h: int, w: int):
    return lambda t: (h // t.stride, w // t.stride)


def test_pooling_grids_fold_into_the_auxiliary_grid():
    """Strides 4..32 at (s-1)/2 all have their knots on the stride-2, offset-1.5 grid (stride 2's
    own grid, at offset 0.5, does not), and the auxiliary grid spans exactly their knots."""
    h, w = 70, 45
    keys = [(s, o, h // s, w // s, 0) for s, o in VGG[1:]]
    stride, offset, h_a, w_a, members = _aux_grid(keys)
    assert (stride, offset) == (2, 1.5)
    assert sorted(k[0] for k in members) == [4, 8, 16, 32]
    assert offset + stride * (h_a - 1) == max(k[1] + k[0] * (k[2] - 1) for k in members)
    assert offset + stride * (w_a - 1) == max(k[1] + k[0] * (k[3] - 1) for k in members)
    assert _aux_grid([(2, 0.0, 8, 8, 0), (3, 0.0, 5, 5, 0)]) is None  # nothing folds


@pytest.mark.parametrize("size", [(70, 45), (64, 64), (97, 33)])
@pytest.mark.parametrize(("budget_mb", "tile_mb"), [(64.0, 8.0), (0.3, 0.05), (0.05, 0.01)])
def test_dense_apply_equals_sampled_first_layer_on_vgg_grids(size, budget_mb, tile_mb):
    """Every tap wide (2 C_t >= D), as VGG-16's with a 128-wide head, so the auxiliary grid, the
    shifted pooling resample and the per-tile stride-1 projection are all on the path."""
    taps = _taps(VGG, channels=(12, 16, 20, 24, 28, 30))
    h, w = size
    feats = _features(taps, h, w, cells=_vgg_cells(h, w))
    weights, bias = _weights(taps)
    ref = _reference(feats, taps, weights, bias, 2, h, w)
    out = dense_apply(feats, taps, weights, bias, size, lambda z: z, budget_mb=budget_mb, tile_mb=tile_mb)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
