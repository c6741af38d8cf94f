"""Function-level tests of the feature views (similarity maps, PCA, k-means) of the explorer, on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import pytest
import torch
from test_app_support import make_image, tiny_explorer, write_inputs

from demo.app import ExplorerApp, build_demo
from demo.tabs.features import similarity_rgb
from pixelnet.features import HYPERCOLUMN, DenseHypercolumns, similarity_maps


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExplorerApp, dict[str, Path]]:
    root = tmp_path_factory.mktemp("app_features")
    torch.manual_seed(0)  # the tiny random models are the same whatever ran before
    app = ExplorerApp(tiny_explorer(root))
    p = write_inputs(root / "inputs")
    other = np.ascontiguousarray(make_image()[:, ::-1])  # image B: A mirrored left-right
    from PIL import Image

    Image.fromarray(other).save(root / "inputs" / "mirrored.png")
    p["mirrored.png"] = root / "inputs" / "mirrored.png"
    return app, p


def _payload(path: Path) -> dict[str, str]:
    return {"path": str(path), "orig_name": path.name}


def test_api_names_include_similarity_and_features(env) -> None:
    app, _ = env
    names = {fn.api_name for fn in build_demo(app.explorer).fns.values()}
    assert {"predict", "inspect", "similarity", "features"} <= names


def test_similarity_maps_per_tap_and_whole_match_the_library(env) -> None:
    app, p = env
    gallery, d = app.similarity(_payload(p["good.png"]), 5, 7, "raw")
    json.dumps(d)
    s = app.explorer.session(make_image())
    taps = list(s.models["seg"].backbone.tap_names)
    assert d["taps"] == taps and len(gallery) == len(taps) + 1
    assert gallery[-1][1].startswith("whole hypercolumn") and gallery[0][0].shape == (48, 64, 3)
    # the JSON's top-k values are the library's maps at those pixels
    hc = DenseHypercolumns.from_predictor(s.predictor, taps=taps)
    maps = similarity_maps(hc, 7, 5)
    for m in d["top_k"]:
        assert m["similarity"] == pytest.approx(float(maps[HYPERCOLUMN][m["working_y"], m["working_x"]]), abs=1e-5)
        assert m["taps"][taps[0]] == pytest.approx(float(maps[taps[0]][m["working_y"], m["working_x"]]), abs=1e-5)
        assert max(abs(m["working_y"] - 7), abs(m["working_x"] - 5)) > d["top_k_excludes_radius"]
    assert d["mean"][HYPERCOLUMN] == pytest.approx(float(maps[HYPERCOLUMN].mean()), abs=1e-5)
    # the clicked pixel is marked (black dot) on every map
    assert (gallery[-1][0][7, 5] == 0).all()
    _, ds = app.similarity(_payload(p["good.png"]), 5, 7, "standardised")
    assert ds["space"] == "standardised" and ds["mean"] != d["mean"]
    with pytest.raises(gr.Error, match="outside"):
        app.similarity(_payload(p["good.png"]), 64, 0)
    with pytest.raises(gr.Error, match="feature space"):
        app.similarity(_payload(p["good.png"]), 1, 1, "whitened")


def test_cross_image_similarity_finds_the_mirrored_pixel(env) -> None:
    app, p = env
    # the red top-left quadrant of A is the top-right quadrant of the mirrored B
    gallery, d = app.similarity(_payload(p["good.png"]), 8, 8, "standardised", _payload(p["mirrored.png"]))
    assert d["cross_image"] and d["top_k_excludes_radius"] == 0 and len(d["top_k"]) == 5
    shallow = gallery[0][0]  # the first tap's map on B (receptive field 5 px)
    from demo.tabs.features import similarity_rgb

    same = similarity_rgb(torch.ones(1, 1))[0, 0]  # the colour of cosine 1
    # the red interior of B sees exactly what the clicked pixel of A sees: cosine 1 there
    assert (shallow[4:20, 36:60] == same).all()
    assert not (shallow[4:20, 4:28] == same).all(axis=-1).any()  # B's other quadrant never


def test_on_select_similarity_updates_on_each_click(env) -> None:
    app, p = env
    out = []
    for xy in ([10, 20], [50, 5]):
        evt = gr.SelectData(None, {"index": xy, "value": None})
        gallery, d = app.on_select_similarity(_payload(p["good.png"]), None, None, None, "raw", evt)
        assert (d["working_x"], d["working_y"]) == tuple(xy)
        out.append(d["mean"][HYPERCOLUMN])
    assert out[0] != out[1]


def test_similarity_colours() -> None:
    rgb = similarity_rgb(torch.tensor([[-1.0, 0.0, 1.0]]))
    assert rgb.shape == (1, 3, 3)
    assert rgb[0, 0, 2] > rgb[0, 0, 0] and rgb[0, 2, 0] > rgb[0, 2, 2]  # blue for -1, red for +1
    assert rgb[0, 1].min() > 200  # white-ish for 0


def test_features_pca_kmeans_and_segment_profile(env) -> None:
    app, p = env
    gallery, pca, seg, legend, pca_b, seg_b, d = app.features(_payload(p["good.png"]), 3, "standardised")
    json.dumps(d)
    taps = d["taps"]
    assert len(gallery) == len(taps) and pca.shape == seg.shape == (48, 64, 3) and pca_b is None and seg_b is None
    assert len(d["segments"]) == 3 and sum(s["fraction"] for s in d["segments"]) == pytest.approx(1.0)
    assert "segment 2" in legend
    # the red quadrant is one segment: its pixels share one overlay colour
    q = seg[2:22, 2:30].reshape(-1, 3)
    assert (q == q[0]).all(axis=1).mean() > 0.9
    evt = gr.SelectData(None, {"index": [8, 8], "value": None})
    distinct, coherence, md = app.segment_profile(_payload(p["good.png"]), "standardised", None, None, None, evt)
    assert isinstance(distinct, pd.DataFrame) and list(distinct["tap"]) == list(coherence["tap"]) == taps
    # (a tap of the random tiny network can be dead on this image: distinctness 0 is legitimate)
    assert (distinct["value"] >= 0).all() and (distinct["value"] > 0).sum() >= len(taps) - 1
    assert (coherence["value"] <= 1 + 1e-6).all() and "Segment" in md
    again = app.features(_payload(p["good.png"]), 3, "standardised")
    assert np.array_equal(again[2], seg)  # deterministic given the seed
    with pytest.raises(gr.Error, match="between 2 and 16"):
        app.features(_payload(p["good.png"]), 17)


def test_features_of_two_images_share_colours_and_chosen_taps(env) -> None:
    app, p = env
    s = app.explorer.session(make_image())
    every = list(s.models["seg"].backbone.tap_names)
    taps = every[:3]
    gallery, pca, seg, _, pca_b, seg_b, d = app.features(
        _payload(p["good.png"]), 2, "raw", taps, 0, _payload(p["mirrored.png"]))
    assert d["taps"] == taps and d["second_image"]
    assert [c for _, c in gallery[:2]] == [every[0], f"B: {every[0]}"] and len(gallery) == 2 * len(every)
    assert pca_b.shape == pca.shape and seg_b.shape == seg.shape
    # B is A mirrored: with one joint k-means the mirrored segments agree almost everywhere
    assert (seg_b[:, ::-1] == seg).all(axis=2).mean() > 0.8
    with pytest.raises(gr.Error, match="unknown taps"):
        app.features(_payload(p["good.png"]), 2, "raw", ["nope"])
    with pytest.raises(gr.Error, match="at least one tap"):
        app.features(_payload(p["good.png"]), 2, "raw", [])


def test_click_on_the_pca_picture_finds_the_pixel_in_b(env) -> None:
    app, p = env
    evt = gr.SelectData(None, {"index": [10, 20], "value": None})
    gallery, d = app.on_select_cross(_payload(p["good.png"]), _payload(p["mirrored.png"]), "raw", None, None, None,
                                     evt)
    assert d["cross_image"] and (d["working_x"], d["working_y"]) == (10, 20) and len(gallery) == len(d["taps"]) + 1
    _, alone = app.on_select_cross(_payload(p["good.png"]), None, "raw", None, None, None, evt)
    assert not alone["cross_image"] and alone["mean"] != d["mean"]
