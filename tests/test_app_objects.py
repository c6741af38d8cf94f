"""A *where* model (issue #25) in the explorer: its segmentation is the categories and ``person`` named by
the backbone's ImageNet classifier on the same ``head`` tap, its inspector the where model's tap
contributions plus the final category, the other views keep working, and the auto choice prefers
``assets/models/seg_photos``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
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
from demo.models import AUTO_SEG_LABEL, REPO, AutoChoice, ModelBank, discover_models
from pixelnet import ModelConfig, build_model, save_model
from pixelnet.objects import WHERE_CLASSES, ObjectModel
from pixelnet.teachers import CATEGORIES, load_imagenet_classifier

CHELSEA = REPO / "assets" / "examples" / "chelsea.jpg"
WHERE = "where"  # the menu label of the where model (its folder, relative to the root)
MIXED = "mixed"  # a confident where model with background, object and person regions on the photo


def where_model_dir(out: Path, bias: tuple[float, float, float] = (0.0, 3.0, -3.0), sharpen: float = 1.0,
                    tta_mirror: bool = False) -> Path:
    """A tiny where model on the pretrained efficientnet_lite0 (offline package), leaning to ``object``
    (its output layer's bias ``bias``; its logits times ``sharpen``; mirror augmentation recorded
    when ``tta_mirror``)."""
    torch.manual_seed(0)
    cfg = ModelConfig(task="seg", backbone="efficientnet_lite0", taps=["s32", "head"], mlp_widths=[8], dropout=0.0,
                      class_names=list(WHERE_CLASSES), what="imagenet-dense", tta_mirror=tta_mirror)
    model = build_model(cfg, pretrained=True)
    with torch.no_grad():
        layer = model.head.output_layer()
        layer.bias.copy_(torch.tensor(bias) * sharpen)
        layer.weight.mul_(sharpen)
    save_model(model, out, backbone="pretrained")
    return out


@contextmanager
def backbone_calls(model) -> Iterator[list[int]]:
    """Counts the backbone passes of ``model`` inside the block (one item per pass)."""
    calls: list[int] = []
    forward = model.backbone.forward
    model.backbone.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    try:
        yield calls
    finally:
        del model.backbone.forward


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """chelsea.jpg (a cat) at 96x64."""
    return np.asarray(Image.open(CHELSEA).convert("RGB").resize((96, 64), Image.BILINEAR))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, photo) -> tuple[ExplorerApp, dict[str, str]]:
    """An explorer whose default seg choice is the where model (``--model where --model models``)."""
    root = tmp_path_factory.mktemp("objects_app")
    where = where_model_dir(root / WHERE)
    mixed = where_model_dir(root / MIXED, (0.5, 0.0, 0.5), sharpen=20.0)
    models = tiny_model_dirs(root)
    app = ExplorerApp(Explorer(ModelBank(discover_models(root, [where, mixed, models]))))
    path = root / "chelsea.png"
    Image.fromarray(photo).save(path)
    return app, {"path": str(path), "orig_name": path.name}


def test_predict_shows_categories_and_person_from_one_backbone_pass(env, photo) -> None:
    app, upload = env
    assert app.bank.default("seg") == WHERE
    session = app.explorer.session(photo)
    where = session.models["seg"]
    with backbone_calls(where) as calls:
        img, seg, legend, _, _, _, _, metrics, notes = app.predict(upload)
    assert len(calls) == 1  # the categories read the where model's cached head tap
    assert seg.shape == photo.shape and "pixelnet-legend" in legend and "cat" in legend
    assert "*where* model" in notes and "categories and person" in notes
    assert session.seg_class_names() == [*CATEGORIES, "person"]
    out = session.predict()["seg"]
    assert out.shape == (len(CATEGORIES) + 1, 64, 96) and np.allclose(out.sum(0), 1.0, atol=1e-4)
    expected = ObjectModel(where, load_imagenet_classifier()).predictor(device="cpu").predict(photo)["seg"]
    np.testing.assert_allclose(out, expected, atol=1e-5)  # exactly pixelnet.objects' output
    taps = session.all_taps()
    ablated = app.predict(upload, None, None, None, False, taps[1:], 0.5)
    assert ablated[1].shape == photo.shape and "the *where* part only" in ablated[-1]
    assert app.predict(upload, None, None, None, True, None, 0.5)[1].shape == photo.shape  # multi-scale


def test_a_where_model_recording_mirror_augmentation_is_shown_as_measured(tmp_path: Path, photo) -> None:
    """The explorer runs a where model's recorded augmentation (the same output as train/eval.py's
    predictor: one plain and one mirrored backbone pass) and says so in its notes."""
    where_dir = where_model_dir(tmp_path / WHERE, (0.5, 0.0, 0.5), sharpen=20.0, tta_mirror=True)
    app = ExplorerApp(Explorer(ModelBank(discover_models(tmp_path, [where_dir]))))
    session = app.explorer.session(photo)
    where = session.models["seg"]
    with backbone_calls(where) as calls:
        out = session.predict()["seg"]
    assert len(calls) == 2
    model = ObjectModel(where, load_imagenet_classifier())
    np.testing.assert_allclose(out, model.predictor(device="cpu").predict(photo)["seg"], atol=1e-5)
    plain = model.predictor(device="cpu", tta=False).predict(photo)["seg"]
    assert not np.allclose(out, plain, atol=1e-3)
    path = tmp_path / "chelsea.png"
    Image.fromarray(photo).save(path)
    upload = {"path": str(path), "orig_name": path.name}
    notes = app.predict(upload)[-1]
    assert "Test scales: 1 (where also mirrored, averaged)" in notes
    assert app.inspect(upload, 10, 20)["tasks"]["seg"]["tta"] is True  # the inspector says what its bars explain


def test_inspect_gives_where_contributions_and_the_final_category(env) -> None:
    app, upload = env
    d = app.inspect(upload, 48, 32)
    json.dumps(d)
    seg = d["tasks"]["seg"]
    assert seg["kind"] == "where" and seg["taps"] == ["s32", "head"]
    w = seg["where"]
    assert w["classes"] == list(WHERE_CLASSES) and w["top"] == "object" == w["classes"][int(np.argmax(w["probs"]))]
    np.testing.assert_allclose(np.array(seg["contributions"]).sum(0),
                               np.array(seg["prediction_vector"]) - np.array(seg["baseline_prediction"]), atol=1e-5)
    np.testing.assert_allclose(seg["prediction_vector"], w["probs"], atol=1e-6)
    p = seg["prediction"]
    assert p["classes"] == [*CATEGORIES, "person"] and p["top"] == "cat" and sum(p["probs"]) == pytest.approx(1, 1e-4)
    assert len(d["imagenet"]) == 5
    evt = gr.SelectData(None, {"index": [48, 32], "value": None})
    x, y, _, thumbs, seg_label, _, _, seg_bar, _, _, summary, imagenet_md, d2 = app.on_select(
        upload, None, None, None, None, evt)
    assert d2["tasks"]["seg"]["prediction"] == p and max(seg_label, key=seg_label.get) == "cat"
    assert list(seg_bar["tap"]) == ["s32", "head"] and set(seg_bar["output"]) == {"P(object)"}
    assert "**cat**" in imagenet_md and "*where* model" in imagenet_md and "ImageNet class" in imagenet_md
    partial = app.inspect(upload, 48, 32, None, None, None, ["head"])["tasks"]["seg"]
    assert partial["taps"] == ["head"] and partial["kind"] == "where" and "where model" in partial["note"]


def test_the_other_views_work_with_a_where_model(env, photo, monkeypatch) -> None:
    import demo.tabs.teach as teach_tab

    app, upload = env
    maps = app.tap_maps(upload, None, None, None, "seg")
    assert [c.split(" ")[0] for _, c in maps] == ["s32", "head"]
    shown, hist, note = app.sample(upload, None, None, None, "stratified", 50)
    assert "predicted classes" in note and any(c.startswith("cat ") for c in hist["category"])
    assert app.similarity(upload, 5, 5, "standardised", None, None, None, None)[0]
    assert app.features(upload, 3)[0]
    legend = app.predict(upload, MIXED)[2]
    assert "person" in legend and "cat" in legend
    classes, canvas, status = app.start_from_segmentation(upload, MIXED)
    assert {"person", "cat"} <= set(classes.split(", ")) <= {*CATEGORIES, "person"} and "Started" in status
    with pytest.raises(gr.Error, match="fewer than two classes"):  # all one object: a message, not a crash
        app.start_from_segmentation(upload, WHERE)
    monkeypatch.setattr(teach_tab, "current_session", lambda: "s1")
    labels = np.zeros(photo.shape[:2], np.uint8)
    labels[5, 5:40], labels[50, 40:90] = 1, 2
    assert "Trained" in app.teach(photo, labels, ["a", "b"])[3]  # a head on the where model's taps


def test_auto_choice_prefers_seg_photos(tmp_path: Path, monkeypatch) -> None:
    models = tiny_model_dirs(tmp_path / "src")
    shipped = tmp_path / "repo" / "assets" / "models"
    for name in ("seg", "seg_categories"):
        shutil.copytree(models / "seg", shipped / name)
    seg = discover_models(tmp_path / "repo")["seg"]
    assert seg[AUTO_SEG_LABEL] == AutoChoice(photo="assets/models/seg_categories", examples="assets/models/seg")
    shutil.copytree(models / "seg", shipped / "seg_photos")
    seg = discover_models(tmp_path / "repo")["seg"]
    assert next(iter(seg)) == AUTO_SEG_LABEL
    assert seg[AUTO_SEG_LABEL] == AutoChoice(photo="assets/models/seg_photos", examples="assets/models/seg")
    assert ModelBank(discover_models(tmp_path / "repo")).resolve("seg") == "assets/models/seg_photos"
    monkeypatch.setattr(models_mod, "PHOTO_SEG", ("assets/models/seg_categories",))
    assert discover_models(tmp_path / "repo")["seg"][AUTO_SEG_LABEL].photo == "assets/models/seg_categories"
