"""The class-prior correction of stratified seg heads (:mod:`pixelnet.engine.prior`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelnet.engine.prior import add_output_bias, class_frequencies, prior_shift
from pixelnet.model import ModelConfig, build_model


def _map(h: int, w: int, small: int) -> np.ndarray:
    """Class 0 everywhere, class 1 on the first ``small`` pixels of the first row."""
    m = np.zeros((h, w), np.int64)
    m[0, :small] = 1
    return m


def test_stratified_draws_classes_evenly_per_image_and_the_shift_is_log_p_over_q() -> None:
    maps = [_map(10, 10, 10), _map(10, 10, 10)]  # 90 % class 0, 10 % class 1
    p, q = class_frequencies(maps, 3, sampler="stratified", pixels_per_image=20,
                             generator=torch.Generator().manual_seed(0))
    assert torch.allclose(p, torch.tensor([0.9, 0.1, 0.0], dtype=torch.float64))
    assert torch.allclose(q, torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))
    shift = prior_shift(p, q)
    assert shift.dtype == torch.float32
    assert shift.tolist() == pytest.approx([math.log(0.9 / 0.5), math.log(0.1 / 0.5), 0.0])


def test_a_class_smaller_than_its_share_gives_its_pixels_and_the_rest_goes_to_the_others() -> None:
    p, q = class_frequencies([_map(10, 10, 4)], 2, sampler="stratified", pixels_per_image=20)
    assert q.tolist() == pytest.approx([16 / 20, 4 / 20])


def test_uniform_sampling_needs_almost_no_correction() -> None:
    rng = np.random.default_rng(0)
    maps = [rng.choice(4, size=(40, 40), p=[0.7, 0.2, 0.07, 0.03]) for _ in range(6)]
    p, q = class_frequencies(maps, 4, sampler="uniform", pixels_per_image=800,
                             generator=torch.Generator().manual_seed(1))
    assert prior_shift(p, q).abs().max() < 0.15
    p2, q2 = class_frequencies(maps, 4, sampler="stratified", pixels_per_image=800)
    assert prior_shift(p2, q2)[0] > 0.4 and prior_shift(p2, q2)[3] < -0.5  # far from the pixel prior


def test_ignored_pixels_count_nowhere_and_bad_labels_are_errors() -> None:
    m = _map(6, 6, 6)
    m[1:] = 255
    p, q = class_frequencies([m], 2, sampler="stratified", pixels_per_image=4)
    assert p.tolist() == pytest.approx([0.0, 1.0]) and q.tolist() == pytest.approx([0.0, 1.0])
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        class_frequencies([np.full((3, 3), 5)], 2)
    with pytest.raises(ValueError, match="no labelled pixel"):
        class_frequencies([np.full((3, 3), 255)], 2)
    with pytest.raises(ValueError, match="does not sample seg"):
        class_frequencies([m], 2, sampler="biased")


@pytest.mark.parametrize("head, bn", [("mlp", False), ("linear", False), ("linear", True)])
def test_the_shift_moves_every_output_by_exactly_the_shift(head: str, bn: bool) -> None:
    config = ModelConfig(task="seg", backbone="vgg16", taps=["conv1_2", "conv2_2"], head=head, mlp_widths=[8],
                         linear_bn=bn, class_names=["a", "b", "c"],
                         backbone_kwargs={"width": 0.0625, "fc_channels": 16})
    model = build_model(config).eval()
    h = torch.randn(50, sum(t.channels for t in model.taps))
    shift = torch.tensor([0.5, -1.0, 2.0])
    with torch.no_grad():
        before = model.head(h)
        add_output_bias(model, shift)
        after = model.head(h)
    assert torch.allclose(after - before, shift.expand_as(before), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        add_output_bias(model, torch.zeros(4))


def test_the_correction_is_bayes_rule_on_a_known_mixture() -> None:
    """Two 1-D Gaussian classes: the log-posterior under the sampled prior q plus log(p / q) is
    the log-posterior under the pixel prior p, up to a per-pixel constant."""
    x = torch.linspace(-3, 3, 61)
    lik = torch.stack([torch.distributions.Normal(-1.0, 1.0).log_prob(x),
                       torch.distributions.Normal(1.0, 1.0).log_prob(x)], 1)  # (N, 2)
    p, q = torch.tensor([0.9, 0.1], dtype=torch.float64), torch.tensor([0.5, 0.5], dtype=torch.float64)
    post_q = torch.log_softmax(lik + torch.log(q).float(), 1)
    post_p = torch.log_softmax(lik + torch.log(p).float(), 1)
    assert torch.allclose(torch.log_softmax(post_q + prior_shift(p, q), 1), post_p, atol=1e-5)
