"""Contracts of pixelnet.features against direct references: naive per-pixel hypercolumns
(sample_hypercolumns at every pixel), numpy's SVD, separable blobs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelnet import TapInfo, sample_hypercolumns
from pixelnet.features import (
    HYPERCOLUMN,
    DenseHypercolumns,
    feature_spaces,
    fit_kmeans,
    fit_pca,
    kmeans,
    kmeans_labels,
    output_grid,
    pca,
    pca_rgb,
    segment_profile,
    similarity_maps,
    top_matches,
)

# two geometries: EfficientNet-like (offset 0) and VGG-like (offset (s-1)/2), odd image sizes
GEOMETRIES = {
    "lite0": [TapInfo("a", 3, 2, 0.0), TapInfo("b", 5, 4, 0.0), TapInfo("c", 7, 8, 0.0)],
    "vgg": [TapInfo("a", 3, 1, 0.0), TapInfo("b", 5, 2, 0.5), TapInfo("c", 7, 4, 1.5)],
}
SIZE = (23, 29)


def make(geometry: str, seed: int = 0, size: tuple[int, int] = SIZE, shift: float = 0.0) -> DenseHypercolumns:
    g = torch.Generator().manual_seed(seed)
    taps = GEOMETRIES[geometry]
    feats = {t.name: torch.randn(1, t.channels, -(-size[0] // t.stride), -(-size[1] // t.stride), generator=g)
             * (1 + 3 * i) + shift for i, t in enumerate(taps)}  # taps of different scales
    return DenseHypercolumns(feats, taps, size)


def naive(hc: DenseHypercolumns, stride: int = 1) -> torch.Tensor:
    """(H', W', C) hypercolumns by sampling every output pixel."""
    ys, xs = output_grid(hc.size, stride)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    coords = torch.stack([torch.zeros_like(yy), yy, xx], -1).reshape(-1, 3)
    h = sample_hypercolumns({n: m[None] for n, m in hc.maps.items()}, hc.taps, coords)
    return h.view(len(ys), len(xs), -1).double()


def naive_cos(a: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (a @ q) / (a.norm(dim=-1) * q.norm()).clamp_min(1e-12)


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("stride", [1, 3])
def test_squared_norms_are_exact_not_interpolated(geometry: str, stride: int) -> None:
    hc = make(geometry)
    ref = naive(hc, stride)
    for t, sl in hc.slices().items():
        torch.testing.assert_close(hc.squared_norms(t, stride).double(), ref[..., sl].pow(2).sum(-1),
                                   rtol=1e-5, atol=1e-4)
    # the interpolated norm² differs (the exact route matters)
    c = hc.taps[2]
    sq = DenseHypercolumns({"n": hc.maps["c"].pow(2).sum(0)[None]}, [TapInfo("n", 1, c.stride, c.offset)], SIZE)
    interp = naive(sq, stride)[..., 0]
    assert (interp - ref[..., hc.slices()["c"]].pow(2).sum(-1)).abs().max() > 1e-2


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("space", ["raw", "standardised"])
@pytest.mark.parametrize("stride", [1, 2])
def test_similarity_matches_naive_per_pixel_cosine(geometry: str, space: str, stride: int) -> None:
    (hc,) = feature_spaces([make(geometry)], space)
    y, x = 7, 20
    maps = similarity_maps(hc, y, x, stride=stride)
    ref = naive(hc, stride)
    q = naive(hc)[y, x]
    assert set(maps) == {"a", "b", "c", HYPERCOLUMN}
    for t, sl in hc.slices().items():
        torch.testing.assert_close(maps[t].double(), naive_cos(ref[..., sl], q[sl]), atol=2e-5, rtol=0)
    torch.testing.assert_close(maps[HYPERCOLUMN].double(), naive_cos(ref, q), atol=2e-5, rtol=0)
    if stride == 1:
        assert maps[HYPERCOLUMN][y, x] == pytest.approx(1.0, abs=1e-5)


def test_standardised_space_standardises_every_pixel_exactly() -> None:
    hc = make("vgg", shift=2.0)
    st = hc.standardised()
    h = naive(st)  # (H, W, C)
    flat = h.reshape(-1, h.shape[-1])
    torch.testing.assert_close(flat.mean(0), torch.zeros(flat.shape[1], dtype=flat.dtype), atol=1e-5, rtol=0)
    # std of each channel is 1 / sqrt(C_t): every tap has expected squared norm 1
    widths = torch.cat([torch.full((t.channels,), float(t.channels)) for t in hc.taps]).double()
    torch.testing.assert_close(flat.std(0, unbiased=False), widths.rsqrt(), atol=1e-5, rtol=1e-5)
    raw_moments = hc.moments()["b"]
    ref = naive(hc)[..., hc.slices()["b"]].reshape(-1, 5)
    torch.testing.assert_close(raw_moments.mean, ref.mean(0), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(raw_moments.std, ref.std(0, unbiased=False), atol=1e-6, rtol=1e-6)


def test_cross_image_similarity_uses_pooled_space_and_matches_naive() -> None:
    a, b = feature_spaces([make("lite0", 1), make("lite0", 2, size=(17, 21), shift=1.0)], "standardised")
    maps = similarity_maps(a, 3, 4, target=b)
    q = naive(a)[3, 4]
    ref = naive(b)
    assert maps[HYPERCOLUMN].shape == (17, 21)
    torch.testing.assert_close(maps[HYPERCOLUMN].double(), naive_cos(ref, q), atol=2e-5, rtol=0)
    torch.testing.assert_close(maps["b"].double(), naive_cos(ref[..., 3:8], q[3:8]), atol=2e-5, rtol=0)
    with pytest.raises(ValueError):
        similarity_maps(a, 3, 4, target=b.select(["a", "b"]))


def test_hypercolumns_at_pixels_equal_sample_hypercolumns() -> None:
    hc = make("vgg")
    yx = torch.tensor([[0, 0], [22, 28], [5, 17], [11, 3]])
    ref = sample_hypercolumns({n: m[None] for n, m in hc.maps.items()}, hc.taps, torch.cat([torch.zeros(4, 1,
                              dtype=torch.long), yx], 1))
    torch.testing.assert_close(hc.at(yx), ref)
    torch.testing.assert_close(hc.select(["b"]).at(yx), ref[:, 3:8])


def test_top_matches_rank_the_whole_map_and_report_every_tap() -> None:
    hc = make("lite0")
    maps = similarity_maps(hc, 5, 6, stride=2)
    top = top_matches(maps, 3, stride=2)
    assert len(top) == 3 and top[0]["similarity"] >= top[1]["similarity"] >= top[2]["similarity"]
    assert float(maps[HYPERCOLUMN].max()) == pytest.approx(top[0]["similarity"])
    r, c = (top[0]["y"] - 1) // 2, (top[0]["x"] - 1) // 2
    assert top[0]["taps"]["b"] == pytest.approx(float(maps["b"][r, c]))
    away = top_matches(maps, 50, stride=2, exclude=(5, 6), radius=4)
    assert len(away) == 50 and all(max(abs(m["y"] - 5), abs(m["x"] - 6)) > 4 for m in away)
    assert top_matches(maps, 10**6, stride=2, exclude=(5, 6), radius=4)[-1]["similarity"] > -1.01


def test_banded_maps_equal_one_band() -> None:
    hc = make("vgg")
    small = DenseHypercolumns({n: m for n, m in hc.maps.items()}, hc.taps, hc.size, budget_mb=1e-4)
    assert len(list(small.bands(1, 4))) > 3
    w = {t.name: torch.randn(4, t.channels) for t in hc.taps}
    torch.testing.assert_close(small.project(w), hc.project(w))
    torch.testing.assert_close(small.squared_norms("b"), hc.squared_norms("b"))
    for t in hc.tap_names:  # moments in channel groups
        torch.testing.assert_close(small.moments()[t].sumsq, hc.moments()[t].sumsq)


def test_projection_is_the_linear_map_of_every_hypercolumn() -> None:
    hc = make("lite0")
    w = {t.name: torch.randn(2, t.channels) for t in hc.taps}
    bias = torch.tensor([1.0, -2.0])
    full = torch.cat([w[t.name] for t in hc.taps], 1).double()
    ref = naive(hc, 2) @ full.T + bias.double()
    torch.testing.assert_close(hc.project(w, bias, stride=2).permute(1, 2, 0).double(), ref, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("channels", [12, 300])  # exact path and randomised path
def test_pca_matches_numpy_svd_up_to_sign(channels: int) -> None:
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(channels, 6, generator=g)).Q  # decaying spectrum, rank 6 + noise
    x = (torch.randn(500, 6, generator=g) * torch.tensor([9.0, 6.0, 4.0, 2.0, 1.0, 0.5])) @ basis.T
    x = x + 0.05 * torch.randn(500, channels, generator=g) + 3.0
    mean, comps, sv = pca(x, 3)
    xn = x.double().numpy()
    _, s, vt = np.linalg.svd(xn - xn.mean(0), full_matrices=False)
    np.testing.assert_allclose(mean.numpy(), xn.mean(0), atol=1e-5)
    np.testing.assert_allclose(np.abs((comps.double().numpy() * vt[:3]).sum(1)), 1.0, atol=1e-5)
    np.testing.assert_allclose(sv.numpy(), s[:3], rtol=1e-4)
    torch.testing.assert_close(comps @ comps.T, torch.eye(3), atol=1e-5, rtol=0)


def test_pca_rgb_projects_every_pixel_like_the_fitted_components() -> None:
    hc = make("vgg").standardised()
    model = fit_pca(hc, ["b", "c"], samples=10**6)  # every pixel
    assert model.taps == ("b", "c") and model.components.shape == (3, 12)
    rgb = pca_rgb(hc, model)
    assert rgb.shape == (*SIZE, 3) and float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    h = naive(hc)[..., 3:].float()
    ref = (((h - model.mean) @ model.components.T - model.lo) / (model.hi - model.lo)).clamp(0, 1)
    torch.testing.assert_close(rgb, ref, atol=1e-4, rtol=0)
    # about 1 % of the pixels are clipped at each end of every component
    assert 0.0 < float((rgb == 0).float().mean()) < 0.05
    one_tap = fit_pca(hc, ["a"])  # 3 channels: an exact PCA, one colour per component
    assert one_tap.components.shape == (3, 3)


def test_kmeans_finds_separable_blobs_deterministically() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 5.0]])
    sizes = [200, 120, 80]
    x = torch.cat([c + 0.5 * torch.randn(n, 3, generator=g) for c, n in zip(centres, sizes)])
    c1 = kmeans(x, 3, seed=1)
    torch.testing.assert_close(c1, kmeans(x, 3, seed=1))
    # largest first; every centroid at its blob's centre
    torch.testing.assert_close(c1, centres, atol=0.2, rtol=0)
    with pytest.raises(ValueError):
        kmeans(x[:2], 3)


def test_kmeans_segments_split_an_image_of_two_halves() -> None:
    taps = GEOMETRIES["lite0"]
    size = (16, 32)
    feats = {}
    for t in taps:
        h, w = -(-size[0] // t.stride), -(-size[1] // t.stride)
        f = torch.zeros(1, t.channels, h, w)
        f[:, 0, :, : w // 2] = 5.0  # left half differs in channel 0 of every tap
        feats[t.name] = f + 0.01 * torch.randn(1, t.channels, h, w, generator=torch.Generator().manual_seed(0))
    hc = DenseHypercolumns(feats, taps, size)
    model = fit_kmeans(hc, 2, seed=0)
    labels = kmeans_labels(hc, model)
    assert labels.shape == size
    assert len(set(labels[:, :6].flatten().tolist())) == 1 and len(set(labels[:, -6:].flatten().tolist())) == 1
    assert labels[0, 0] != labels[0, -1]
    # the labels are the argmin of the distances of the naive hypercolumns
    h = naive(hc).float()
    ref = torch.cdist(h.reshape(-1, h.shape[-1]), model.centroids).argmin(1).view(size)
    assert float((labels == ref).float().mean()) > 0.99
    prof = segment_profile(hc, labels, int(labels[0, 0]))
    left = h[labels == labels[0, 0]]
    assert prof.pixels == len(left)
    for t, sl in hc.slices().items():
        torch.testing.assert_close(prof.mean[t].double(), left[:, sl].double().mean(0), atol=1e-5, rtol=0)
        ref_coh = naive_cos(left[:, sl].double(), left[:, sl].double().mean(0)).mean()
        assert prof.coherence[t] == pytest.approx(float(ref_coh), abs=1e-5)
        assert prof.distinct[t] > 0.1
    with pytest.raises(ValueError):
        fit_kmeans(hc, 17)


def test_bad_inputs_fail_loudly() -> None:
    hc = make("lite0")
    with pytest.raises(ValueError):
        hc.at(torch.tensor([[SIZE[0], 0]]))
    with pytest.raises(ValueError):
        hc.select(["nope"])
    with pytest.raises(ValueError):
        feature_spaces([hc], "whitened")
    with pytest.raises(ValueError):
        DenseHypercolumns({"a": torch.zeros(1, 4, 3, 3)}, [TapInfo("a", 3, 2, 0.0)], (6, 6))


def test_from_predictor_reads_cached_maps_including_taps_no_head_reads() -> None:
    from pixelnet import ModelConfig, Predictor, build_backbone, build_model

    bb = build_backbone("vgg16", width=0.0625, fc_channels=16)
    model = build_model(ModelConfig(task="edges", backbone="vgg16", taps=["conv3_3", "fc7"], mlp_widths=[4]),
                        backbone=bb)
    pred = Predictor(model, device="cpu")
    pred.set_image(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8))
    hc = DenseHypercolumns.from_predictor(pred)
    assert hc.tap_names == ["conv3_3", "fc7"] and hc.size == (40, 48)
    more = DenseHypercolumns.from_predictor(pred, taps="conv1_2,conv3_3,fc7")
    assert more.tap_names == ["conv1_2", "conv3_3", "fc7"]
    torch.testing.assert_close(more.maps["conv3_3"], hc.maps["conv3_3"])
    with torch.no_grad():
        ref = bb(model.normalize(pred.image_tensor()), ["conv1_2"])["conv1_2"][0]
    torch.testing.assert_close(more.maps["conv1_2"], ref)
    with pytest.raises(ValueError):
        pred.features("edges", taps=["conv9_9"])
