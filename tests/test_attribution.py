"""Contracts of the exact per-tap Shapley attribution (pixelnet.attribution)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from pixelnet import ModelConfig, build_model
from pixelnet.attribution import (
    coalition_masks,
    shapley_from_values,
    shapley_values,
    tap_baselines,
    tap_contribution_maps,
    tap_shapley,
)
from pixelnet.hypercolumn import sample_hypercolumns
from pixelnet.tasks import activate

TINY = {"width": 0.0625, "fc_channels": 64}


def _model(task: str, head: str = "mlp"):
    cfg = ModelConfig(task=task, backbone="vgg16", head=head, mlp_widths=[16], dropout=0.0,
                      class_names=["a", "b", "c"] if task == "seg" else None, backbone_kwargs=TINY)
    return build_model(cfg).eval()


def _brute_force(v, n: int) -> torch.Tensor:
    """Shapley values from the permutation definition (independent of the subset formula)."""
    phis = torch.zeros(n, *v(frozenset()).shape, dtype=torch.float64)
    perms = list(itertools.permutations(range(n)))
    for perm in perms:
        s: frozenset[int] = frozenset()
        for j in perm:
            phis[j] += v(s | {j}) - v(s)
            s = s | {j}
    return phis / len(perms)


def test_coalition_masks_enumerate_every_subset() -> None:
    m = coalition_masks(3)
    assert m.shape == (8, 3)
    assert len({tuple(r.tolist()) for r in m}) == 8
    assert not m[0].any() and m[-1].all()


def test_shapley_matches_permutation_definition() -> None:
    g = torch.Generator().manual_seed(1)
    table = torch.randn(16, 2, generator=g, dtype=torch.float64)  # arbitrary 4-player game

    def v(s: frozenset[int]) -> torch.Tensor:
        return table[sum(1 << j for j in s)]

    assert torch.allclose(shapley_from_values(table), _brute_force(v, 4))


def test_symmetry_and_dummy_axioms() -> None:
    # players 0 and 1 are interchangeable, player 2 never changes the value
    def value(masks: torch.Tensor) -> torch.Tensor:
        m = masks.double()
        return (m[:, 0] + m[:, 1]) ** 2 + 3 * m[:, 3]

    phi = shapley_values(value, 4)
    assert phi[0] == pytest.approx(phi[1].item())
    assert phi[2] == pytest.approx(0.0, abs=1e-12)
    assert phi[3] == pytest.approx(3.0)
    assert phi.sum() == pytest.approx(value(coalition_masks(4)[-1:])[0].item())


@pytest.mark.parametrize("task", ["seg", "normals", "edges"])
@pytest.mark.parametrize("space", ["activated", "raw"])
def test_tap_shapley_efficiency_on_a_tiny_model(task: str, space: str) -> None:
    model = _model(task)
    x = torch.rand(1, 3, 40, 48)
    feats = model.features(x)
    att = tap_shapley(model, feats, (0, 17, 29), space=space)
    assert att.contributions.shape == (len(model.taps), model.config.num_outputs)
    # contributions add up to prediction minus baseline prediction
    assert torch.allclose(att.contributions.sum(0), att.prediction - att.baseline, atol=1e-9)
    # v(all) is the model's own prediction at the pixel
    raw = model.head_at(feats, torch.tensor([[0, 17, 29]]))
    pred = activate(task, raw, dim=1)[0] if space == "activated" else raw[0]
    assert torch.allclose(att.prediction.float(), pred, atol=1e-5)
    # v(none) is the prediction from the all-baseline hypercolumn
    base = tap_baselines(feats)
    h0 = torch.cat([base[t.name][0] for t in model.taps])[None]
    b_raw = model.head(h0)
    b_pred = activate(task, b_raw, dim=1)[0] if space == "activated" else b_raw[0]
    assert torch.allclose(att.baseline.float(), b_pred, atol=1e-5)


def test_tap_shapley_linear_head_is_first_layer_term() -> None:
    # for a linear head, tap t's Shapley value is exactly W_t (c_t - mean_t)
    model = _model("edges", head="linear")
    feats = model.features(torch.rand(1, 3, 32, 32))
    att = tap_shapley(model, feats, (0, 9, 21), space="raw")
    h = sample_hypercolumns(feats, model.taps, torch.tensor([[0, 9, 21]]))[0]
    parts = torch.split(h, [t.channels for t in model.taps])
    base = tap_baselines(feats)
    for i, (tap, w_t, c) in enumerate(zip(model.taps, model.tap_weights(), parts)):
        expected = w_t @ (c - base[tap.name][0])
        assert torch.allclose(att.contributions[i].float(), expected, atol=1e-5)


def test_switched_off_taps_are_dummies_and_players_are_checked() -> None:
    model = _model("seg")
    feats = model.features(torch.rand(1, 3, 32, 32))
    names = [t.name for t in model.taps]
    att = tap_shapley(model, feats, (0, 5, 5), players=names[:3])
    assert att.taps == names[:3] and att.contributions.shape[0] == 3
    assert torch.allclose(att.contributions.sum(0), att.prediction - att.baseline, atol=1e-9)
    with pytest.raises(ValueError, match="unknown taps"):
        tap_shapley(model, feats, (0, 5, 5), players=["nope"])
    d = att.to_dict()
    assert d["baseline"] and len(d["contributions"]) == 3


def test_contribution_maps_shapes_and_exactness_for_linear_heads() -> None:
    model = _model("edges", head="linear")
    feats = model.features(torch.rand(1, 3, 32, 32))
    maps = tap_contribution_maps(model, feats, size=(32, 32))
    assert set(maps) == {t.name for t in model.taps}
    assert all(m.shape == (32, 32) and (m >= 0).all() for m in maps.values())
    coarse = tap_contribution_maps(model, feats)
    fc7 = model.taps[-1]
    assert coarse[fc7.name].shape == tuple(feats[fc7.name].shape[2:])
    # conv1_2 has stride 1 and offset 0: its cells are pixels, and there the map equals the
    # magnitude of the tap's Shapley value (linear head, one output)
    first = model.taps[0]
    assert (first.stride, first.offset) == (1, 0.0)
    att = tap_shapley(model, feats, (0, 7, 11), space="raw")
    assert coarse[first.name][7, 11] == pytest.approx(abs(att.contributions[0, 0].item()), rel=1e-4)


def test_weights_sum_to_one() -> None:
    n = 5
    total = sum(math.comb(n - 1, k) * math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                for k in range(n))
    assert total == pytest.approx(1.0)
