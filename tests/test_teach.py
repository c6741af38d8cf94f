"""The Teach tab's callbacks without a browser: strokes become labels, a head is taught and joins the
session's Segmentation choices, bad strokes get a clear message, and sessions are bounded."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image
from test_app_support import make_image, tiny_explorer

import demo.tabs.base as tab_base
import demo.tabs.teach as teach_tab
from demo.app import ExplorerApp
from demo.tabs.teach import palette_hex, parse_classes, strokes_to_labels
from demo.taught import TaughtGone, TaughtStore
from pixelnet.io import load_model
from pixelnet.outputs import label_png_bytes, read_label_png


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> ExplorerApp:
    return ExplorerApp(tiny_explorer(tmp_path_factory.mktemp("teach")), taught=TaughtStore(max_sessions=2))


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch):
    """Pretend to be browser session ``name`` (what Gradio's request context gives)."""

    def use(name: str) -> None:
        monkeypatch.setattr(tab_base, "current_session", lambda: name)
        monkeypatch.setattr(teach_tab, "current_session", lambda: name)

    use("s1")
    return use


def strokes(h: int = 48, w: int = 64) -> np.ndarray:
    lab = np.zeros((h, w), np.uint8)
    lab[10, 5:20] = 1  # inside the red top-left quadrant
    lab[40, 30:60] = 2
    return lab


def _files(tmp_path: Path, labels: np.ndarray, image: np.ndarray | None = None) -> tuple[str, str]:
    img_path, lab_path = tmp_path / "img.png", tmp_path / "lab.png"
    Image.fromarray(make_image() if image is None else image).save(img_path)
    lab_path.write_bytes(label_png_bytes(labels, 2))
    return str(img_path), str(lab_path)


def test_strokes_to_labels_nearest_brush_colour_and_alpha() -> None:
    cols = palette_hex(3)
    rgb = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in cols]
    layer = np.zeros((6, 8, 4), np.uint8)
    layer[4, 5] = (*rgb[0], 255)
    layer[2, 2] = (*[min(255, v + 6) for v in rgb[2]], 200)  # antialiased: near colour 3
    layer[3, 3] = (*rgb[1], 40)  # faint: not painted
    second = np.zeros((3, 4, 4), np.uint8)  # another size: resized
    second[0, 0] = (*rgb[1], 255)
    out = strokes_to_labels([layer, second], (6, 8), 3)
    assert out[4, 5] == 1 and out[2, 2] == 3 and out[3, 3] == 0
    assert (out[0:2, 0:2] == 2).all()  # the later layer paints over
    assert out.sum() == 1 + 3 + 2 * 4


def test_parse_classes() -> None:
    assert parse_classes(" cat, sofa ,floor ") == ["cat", "sofa", "floor"]
    for bad in ("cat", ",".join("abcdefghijk"), "a, a", ""):
        with pytest.raises(gr.Error):
            parse_classes(bad)


def test_teach_from_png_joins_the_dropdown_and_predicts(app: ExplorerApp, session, tmp_path: Path) -> None:
    img, lab = _files(tmp_path, strokes())
    shown, unsure, counts, status, zip_path, png_path, dropdown = app.teach_png(img, lab, "red, other")
    assert shown.shape == (48, 64, 3) and unsure.shape == (48, 64, 3)
    assert list(counts["labelled pixels"]) == [15, 30]
    label = dropdown["value"]
    assert label.startswith("taught #") and label in dropdown["choices"] and "red/other" in label
    assert label in status
    np.testing.assert_array_equal(read_label_png(png_path), strokes())
    out = app.predict(img, label)  # the main view segments with the taught head
    assert "red" in out[2] and "other" in out[2]
    assert app.taps_of(label, None, None)["choices"]
    d = app.inspect(img, 5, 7, label)  # the inspector and the sampler view work on the taught head
    assert d["tasks"]["seg"]["prediction"]["classes"] == ["red", "other"]
    assert len(d["tasks"]["seg"]["contributions"]) == len(d["tasks"]["seg"]["taps"])
    assert "predicted classes" in app.sample(img, label, None, None, "stratified", 50)[2]
    import zipfile

    with zipfile.ZipFile(zip_path) as z:
        assert sorted(z.namelist()) == ["config.json", "model.safetensors"]
        z.extractall(tmp_path / "model")
    assert load_model(tmp_path / "model").config.class_names == ["red", "other"]
    session("someone-else")
    with pytest.raises(gr.Error, match="no taught head"):
        app.predict(img, label)


def test_teach_from_canvas(app: ExplorerApp, session) -> None:
    img = make_image()
    cols = palette_hex(2)
    layer = np.zeros((48, 64, 4), np.uint8)
    for k, (y, xs) in enumerate([(10, slice(5, 20)), (40, slice(30, 60))]):
        layer[y, xs] = (*[int(cols[k][i : i + 2], 16) for i in (1, 3, 5)], 255)
    editor = {"background": np.dstack([img, np.full((48, 64), 255, np.uint8)]), "layers": [layer], "composite": None}
    out = app.teach_strokes(editor, "red, other")
    assert list(out[2]["labelled pixels"]) == [15, 30]
    keep = app.auto_teach(True, {**editor, "layers": [np.zeros_like(layer)]}, "red, other")
    assert all(isinstance(v, dict) for v in keep)  # nothing painted yet: no training, no error
    assert app.auto_teach(True, editor, "red, other")[3].startswith("Trained")
    with pytest.raises(gr.Error, match="canvas"):
        app.teach_strokes(None, "a, b")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((48, 64), np.uint8), "no labelled pixels"),
        ((strokes() == 1).astype(np.uint8), "only 'red' is labelled"),
        (strokes()[:, :40], "is 40x48 but the image is 64x48"),
        (strokes() * 2, "outside 0..2"),
    ],
)
def test_bad_strokes_get_a_clear_message(app: ExplorerApp, session, tmp_path: Path, labels, message) -> None:
    img, lab = _files(tmp_path, labels)
    with pytest.raises(gr.Error, match=message):
        app.teach_png(img, lab, "red, other")


def test_small_image_and_whole_image_stroke(app: ExplorerApp, session, tmp_path: Path) -> None:
    small = make_image(20, 24)
    lab = np.zeros((20, 24), np.uint8)
    lab[5, 2:8], lab[15, 12:20] = 1, 2
    img, lab_path = _files(tmp_path, lab, small)
    with pytest.raises(gr.Error, match="pixels per side"):
        app.teach_png(img, lab_path, "a, b")
    whole = np.ones((48, 64), np.uint8)
    whole[24:] = 2
    img, lab_path = _files(tmp_path, whole)
    assert app.teach_png(img, lab_path, "a, b")[3].startswith("Trained")


def test_sessions_are_bounded_and_told_when_evicted(app: ExplorerApp, session, tmp_path: Path) -> None:
    img, lab = _files(tmp_path, strokes())
    labels = {}
    for name in ("a", "b", "c"):  # the store keeps 2 sessions
        session(name)
        labels[name] = app.teach_png(img, lab, "red, other")[6]["value"]
    assert len(app.taught) == 2
    session("a")
    with pytest.raises(gr.Error, match="cleared to make room"):
        app.predict(img, labels["a"])
    session("c")
    app.predict(img, labels["c"])


def test_store_keeps_the_last_heads_of_a_session() -> None:
    store = TaughtStore(max_sessions=4, heads_per_session=2)
    model = load_model(Path(__file__).resolve().parents[1] / "assets" / "models" / "seg")
    names = [store.add("s", model, np.zeros((2, 2), np.uint8)) for _ in range(3)]
    assert store.labels_of("s") == names[1:]
    with pytest.raises(TaughtGone, match="keeps its last 2"):
        store.get("s", names[0])
