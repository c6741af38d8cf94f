"""Contracts of the pixel samplers: validity, distribution, balance, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from pixelnet.samplers import (
    SAMPLERS,
    colour_clusters,
    sample_all,
    sample_biased,
    sample_pixels,
    sample_stratified,
    sample_uniform,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _at(x: torch.Tensor, byx: torch.Tensor) -> torch.Tensor:
    return x[byx[:, 0], byx[:, 1], byx[:, 2]]


def _two_class_labels() -> torch.Tensor:
    """[2, 16, 16]: image 0 is 90% class 3 / 10% class 7 with an ignored corner; image 1 all ignored."""
    labels = torch.full((2, 16, 16), 3, dtype=torch.long)
    labels[0, :, :2] = 7  # 32 px
    labels[0, :4, -4:] = 255
    labels[1] = 255
    return labels


def test_uniform_shape_order_and_validity() -> None:
    valid = torch.zeros(3, 8, 10, dtype=torch.bool)
    valid[0, 2:4, 5:9] = True
    valid[2, 7, 9] = True
    byx = sample_uniform(valid, 5, generator=_gen())
    assert byx.dtype == torch.long and byx.shape == (10, 3)
    assert _at(valid, byx).all()
    assert set(byx[:, 0].tolist()) == {0, 2}  # image 1 has no valid pixel
    assert len({tuple(r) for r in byx[byx[:, 0] == 0].tolist()}) == 5  # no repeats when enough
    assert (byx[byx[:, 0] == 2] == torch.tensor([2, 7, 9])).all()  # replacement when too few


def test_uniform_is_uniform_chi_square() -> None:
    valid = torch.zeros(1, 6, 6, dtype=torch.bool)
    valid[0, 1:5, 1:5] = True  # 16 valid pixels
    counts = torch.zeros(6, 6)
    gen = _gen(1)
    for _ in range(400):
        byx = sample_uniform(valid, 4, generator=gen)
        counts.index_put_((byx[:, 1], byx[:, 2]), torch.ones(len(byx)), accumulate=True)
    assert counts[~valid[0]].sum() == 0
    assert chisquare(counts[valid[0]].numpy()).pvalue > 1e-3


def test_stratified_balances_and_never_samples_ignore() -> None:
    labels = _two_class_labels()
    byx = sample_stratified(labels, 40, generator=_gen())
    values = _at(labels, byx)
    assert (values != 255).all() and (byx[:, 0] == 0).all()
    assert (values == 7).sum() == 20 and (values == 3).sum() == 20
    assert len({tuple(r) for r in byx.tolist()}) == 40


def test_stratified_small_class_gives_all_its_pixels() -> None:
    labels = torch.zeros(1, 10, 10, dtype=torch.long)
    labels[0, 0, :3] = 1  # 3 px
    labels[0, 1, :] = 2  # 10 px
    values = _at(labels, sample_stratified(labels, 30, generator=_gen()))
    assert [(values == c).sum().item() for c in (0, 1, 2)] == [17, 3, 10]


def test_stratified_with_replacement_when_image_too_small() -> None:
    labels = torch.tensor([[[0, 1], [1, 255]]])
    values = _at(labels, sample_stratified(labels, 9, generator=_gen()))
    assert len(values) == 9 and abs((values == 0).sum().item() - (values == 1).sum().item()) <= 1


@pytest.mark.parametrize("pos_fraction", [0.25, 0.5, 0.75])
def test_biased_positive_fraction(pos_fraction: float) -> None:
    gen = _gen(2)
    edges = (torch.rand(4, 32, 32, generator=gen) < 0.1).to(torch.uint8)
    edges[:, :3] = 255
    byx = sample_biased(edges, 200, pos_fraction=pos_fraction, generator=gen)
    values = _at(edges, byx)
    assert len(values) == 800 and (values != 255).all()
    assert abs((values == 1).float().mean().item() - pos_fraction) < 0.01


def test_biased_image_without_positives_takes_negatives() -> None:
    edges = torch.zeros(1, 8, 8, dtype=torch.uint8)
    values = _at(edges, sample_biased(edges, 10, generator=_gen()))
    assert len(values) == 10 and (values == 0).all()


def test_all_returns_every_valid_pixel() -> None:
    valid = torch.rand(2, 5, 7, generator=_gen()) > 0.5
    byx = sample_all(valid)
    rebuilt = torch.zeros_like(valid)
    rebuilt[byx[:, 0], byx[:, 1], byx[:, 2]] = True
    assert torch.equal(rebuilt, valid) and len(byx) == valid.sum()


@pytest.mark.parametrize("kind,task", [("uniform", "seg"), ("stratified", "seg"), ("biased", "edges"),
                                       ("uniform", "normals"), ("all", "edges")])
def test_sample_pixels_deterministic_and_valid(kind: str, task: str) -> None:
    labels = _two_class_labels()
    batch = {"seg": labels, "valid": labels != 255,
             "edges": torch.where(labels == 255, 255, (labels == 7).long()).to(torch.uint8)}
    a = sample_pixels(kind, batch, 50, task=task, generator=_gen(5))
    b = sample_pixels(kind, batch, 50, task=task, generator=_gen(5))
    c = sample_pixels(kind, batch, 50, task=task, generator=_gen(6))
    assert torch.equal(a, b)
    assert kind == "all" or not torch.equal(a, c)
    assert (_at(labels, a) != 255).all()


def test_sample_pixels_rejects_bad_requests() -> None:
    batch = {"seg": torch.zeros(1, 4, 4, dtype=torch.long)}
    with pytest.raises(ValueError, match="unknown sampler"):
        sample_pixels("fancy", batch, 4, task="seg")
    with pytest.raises(ValueError, match="does not fit"):
        sample_pixels("biased", batch, 4, task="seg")
    with pytest.raises(ValueError, match="does not fit"):
        sample_pixels("stratified", batch, 4, task="normals")
    with pytest.raises(ValueError, match="no 'edges'"):
        sample_pixels("uniform", batch, 4, task="edges")
    assert SAMPLERS == ("uniform", "stratified", "biased", "all")


def test_colour_clusters_separates_colours() -> None:
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    image[:, 10:20] = (250, 240, 30)
    image[:, 20:] = (20, 40, 200)
    clusters = colour_clusters(image, k=3, seed=0)
    assert clusters.dtype == np.int64 and clusters.shape == (20, 30)
    blocks = [np.unique(clusters[:, i : i + 10]) for i in (0, 10, 20)]
    assert all(len(b) == 1 for b in blocks) and len({int(b[0]) for b in blocks}) == 3
    assert blocks[0][0] == 0  # numbered by lightness: black first
    assert np.array_equal(clusters, colour_clusters(image, k=3, seed=0))
