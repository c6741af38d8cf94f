"""Function-level tests of every explorer callback (no server, no browser), on tiny models."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from test_app_support import BAD, GOOD, make_image, tiny_explorer, write_inputs

from demo.app import ExplorerApp, build_demo, get_args_parser, index_ground_truth
from demo.explorer import read_upload
from demo.models import FALLBACK_LABEL, discover_models
from pixelnet.io import ModelFileError

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExplorerApp, dict[str, Path]]:
    root = tmp_path_factory.mktemp("app")
    app = ExplorerApp(tiny_explorer(root))
    return app, write_inputs(root / "inputs")


def _payload(path: Path) -> dict[str, str]:
    return {"path": str(path), "orig_name": path.name}  # what gradio hands over with preprocess=False


def test_analytics_off_and_safe_cli_defaults() -> None:
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    args = get_args_parser().parse_args([])
    assert args.host == "127.0.0.1" and args.max_side == 1024 and args.queue_size > 0


def test_model_discovery_orders_explicit_models_first(tmp_path: Path, env) -> None:
    app, _ = env
    labels = app.bank.labels("seg")
    assert labels[0].endswith("models/seg") and FALLBACK_LABEL in labels
    found = discover_models(tmp_path)  # nothing there: the untrained fallback is the default
    assert all(list(v) == [FALLBACK_LABEL] for v in found.values())
    with pytest.raises(ModelFileError, match="no model"):
        discover_models(tmp_path, [tmp_path / "missing"])


def test_build_demo_has_stable_api_names(env) -> None:
    app, _ = env
    demo = build_demo(app.explorer)
    assert isinstance(demo, gr.Blocks)
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"predict", "inspect"} <= names


def test_predict_outputs(env) -> None:
    app, p = env
    img, seg, legend, normals, edges, nms, gallery, metrics, info = app.predict(_payload(p["good.png"]))
    h, w = make_image().shape[:2]
    for a in (img, seg, normals, edges, nms):
        assert a.shape == (h, w, 3) and a.dtype == np.uint8
    assert "pixelnet-legend" in legend and "floor" in legend
    assert gallery == [] and "No ground truth" in metrics and "64x48" in info
    # normals are the standard RGB coding of unit vectors
    n = normals.astype(np.float32) / 127.5 - 1
    assert np.allclose(np.linalg.norm(n, axis=2), 1, atol=0.03)


def test_predict_ablation_and_multiscale(env) -> None:
    app, p = env
    base = app.predict(_payload(p["good.png"]))
    taps = app.explorer.session(make_image()).all_taps()
    ablated = app.predict(_payload(p["good.png"]), None, None, None, False, taps[:2], 0.5)
    assert "Taps off" in ablated[-1] and not np.array_equal(base[4], ablated[4])
    multi = app.predict(_payload(p["good.png"]), None, None, None, True, None, 0.5)
    assert "0.5, 1, 1.5" in multi[-1]
    with pytest.raises(gr.Error, match="at least one tap"):
        app.predict(_payload(p["good.png"]), None, None, None, False, [], 0.5)
    with pytest.raises(gr.Error, match="unknown taps"):
        app.predict(_payload(p["good.png"]), None, None, None, False, ["s2"], 0.5)
    with pytest.raises(gr.Error, match="unknown taps"):
        app.inspect(_payload(p["good.png"]), 1, 1, None, None, None, ["s2"])
    upd = app.taps_of(None, None, None)
    assert upd["choices"] == upd["value"] == taps


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_inputs_give_clear_errors(env, name: str) -> None:
    app, p = env
    with pytest.raises(gr.Error) as e:
        app.predict(_payload(p[name]))
    assert BAD[name] in str(e.value.message)
    with pytest.raises(gr.Error):
        app.inspect(_payload(p[name]), 0, 0)


@pytest.mark.parametrize("name", GOOD)
def test_odd_but_valid_inputs_work(env, name: str) -> None:
    app, p = env
    img = app.predict(_payload(p[name]))[0]
    assert img.ndim == 3 and img.shape[2] == 3


def test_missing_image_and_cleared_input(env) -> None:
    app, _ = env
    with pytest.raises(gr.Error, match="no image"):
        app.predict(None)
    assert app.predict_or_clear(None)[0] is None
    assert app.tap_maps_or_clear(None, None, None, None, "seg") == []


def test_inspect_is_json_and_exact(env) -> None:
    app, p = env
    d = app.inspect(_payload(p["good.png"]), 5, 7)
    json.dumps(d)
    assert (d["x"], d["y"]) == (5, 7) and d["rgb"] == [250, 20, 20]
    assert set(d["tasks"]) == {"seg", "normals", "edges"}
    for t in d["tasks"].values():
        c = np.array(t["contributions"])
        assert c.shape[0] == len(t["taps"]) == 6
        assert np.allclose(
            c.sum(0), np.array(t["prediction_vector"]) - np.array(t["baseline_prediction"]), atol=1e-6
        )
    seg = d["tasks"]["seg"]["prediction"]
    assert abs(sum(seg["probs"]) - 1) < 1e-5 and seg["top"] in seg["classes"]
    assert abs(np.linalg.norm(d["tasks"]["normals"]["prediction"]["normal"]) - 1) < 1e-5
    with pytest.raises(gr.Error, match="outside"):
        app.inspect(_payload(p["good.png"]), 64, 0)


def test_inspect_with_switched_off_taps(env) -> None:
    app, p = env
    taps = app.explorer.session(make_image()).all_taps()
    d = app.inspect(_payload(p["good.png"]), 3, 3, None, None, None, taps[:2])
    assert d["tasks"]["edges"]["taps"] == taps[:2] and "baseline" in d["tasks"]["edges"]["note"]


def test_on_select_with_synthetic_select_data(env) -> None:
    app, p = env
    evt = gr.SelectData(None, {"index": [10, 20], "value": None})
    out = app.on_select(_payload(p["good.png"]), None, None, None, None, evt)
    x, y, zoom, thumbs, seg_label, normal_html, edge_md, seg_bar, normals_bar, edges_bar, summary, imagenet, d = out
    assert (x, y) == (10, 20) == (d["x"], d["y"])
    assert imagenet == "" and "imagenet" not in d  # tiny VGG models: no ImageNet classifier of theirs
    assert zoom.shape[2] == 3 and len(thumbs) == 6
    assert (
        abs(sum(seg_label.values()) - 1) < 1e-5 and "slant" in normal_html and "Edge probability" in edge_md
    )
    assert (
        isinstance(seg_bar, pd.DataFrame)
        and len(seg_bar) == 6
        and len(normals_bar) == 18
        and len(edges_bar) == 6
    )
    assert "(10, 20)" in summary
    view = app.inspect_view(_payload(p["good.png"]), 10, 20, None, None, None, None)
    assert len(view) == 10 and "(10, 20)" in view[-2]


def test_exif_rotated_clicks_refer_to_displayed_orientation(env) -> None:
    app, p = env
    img = app.predict(_payload(p["exif_rotated.jpg"]))[0]
    h, w = make_image().shape[:2]
    assert img.shape[:2] == (w, h)  # rotated by 90 degrees for display
    # the bright quadrant was top-left; after a 90-degree clockwise turn it is top-right
    d = app.inspect(_payload(p["exif_rotated.jpg"]), img.shape[1] - 3, 3)
    assert d["rgb"][0] > 200 and d["rgb"][1] < 80


def test_large_uploads_are_resized_and_clicks_mapped_back(tmp_path: Path) -> None:
    app = ExplorerApp(tiny_explorer(tmp_path, max_side=32))
    big = make_image(48, 64)
    path = tmp_path / "big.png"
    from PIL import Image

    Image.fromarray(big).save(path)
    img = app.predict(_payload(path))[0]
    assert img.shape[:2] == (24, 32)
    d = app.inspect(_payload(path), 63, 47)
    assert (d["working_x"], d["working_y"]) == (31, 23) and (d["x"], d["y"]) == (63, 47)
    evt = gr.SelectData(None, {"index": [31, 23], "value": None})
    out = app.on_select(_payload(path), None, None, None, None, evt)
    assert (out[0], out[1]) == (63, 47)


def test_tap_maps_and_samplers(env) -> None:
    app, p = env
    maps = app.tap_maps(_payload(p["good.png"]), None, None, None, "edges")
    assert len(maps) == 6 and all(m[0].ndim == 3 for m in maps)
    for sampler in ("uniform", "stratified", "biased"):
        shown, hist, note = app.sample(_payload(p["good.png"]), None, None, None, sampler, 100)
        assert shown.shape == (48, 64, 3) and "100 pixels" in note
        assert np.isclose(hist[hist["set"] == "sampled"]["fraction"].sum(), 1)
        assert np.isclose(hist[hist["set"] == "image"]["fraction"].sum(), 1)
    with pytest.raises(gr.Error):
        app.sample(_payload(p["good.png"]), None, None, None, "nope", 100)
    # the tiny seg model is a (trained-format) model file: strata are its predicted classes
    assert "predicted classes" in app.sample(_payload(p["good.png"]), None, None, None, "stratified", 50)[2]


def test_ground_truth_and_metrics_for_synthscenes_examples(env, tmp_path: Path) -> None:
    app, _ = env
    pngs = sorted(EXAMPLES.glob("synth_*.png"))
    if not pngs:
        pytest.skip("no SynthScenes examples in assets/examples yet")
    shutil.copy(pngs[0], tmp_path / pngs[0].name)
    shutil.copy(pngs[0].with_suffix(".npz"), tmp_path / pngs[0].with_suffix(".npz").name)
    index_ground_truth(app.explorer, tmp_path)
    out = app.predict(_payload(tmp_path / pngs[0].name))
    gallery, metrics = out[6], out[7]
    assert len(gallery) == 3 and "mIoU" in metrics and "median angle" in metrics and "ODS" in metrics
    shown, hist, note = app.sample(_payload(tmp_path / pngs[0].name), None, None, None, "stratified", 50)
    assert "ground-truth classes" in note


def test_read_upload_contract(env) -> None:
    _, p = env
    assert read_upload(str(p["good.png"])).shape == (48, 64, 3)
    assert read_upload(p["good.png"].read_bytes()).shape == (48, 64, 3)
    assert read_upload(make_image()).shape == (48, 64, 3)


def test_safe_image_writes_each_picture_once() -> None:
    from demo.app import SafeImage

    comp = SafeImage(interactive=False)
    assert comp.get_block_name() == "image"
    img = make_image()
    a = comp.postprocess(img)
    path = Path(a.path)
    stamp = path.stat().st_mtime_ns
    b = comp.postprocess(img.copy())
    assert b.path == a.path and path.stat().st_mtime_ns == stamp  # not rewritten while it may be served
    assert not list(path.parent.glob("*.tmp"))
    from PIL import Image

    assert Image.open(path).size == (64, 48)


def test_safe_gallery_writes_each_picture_once() -> None:
    from demo.app import SafeGallery

    comp = SafeGallery(interactive=False)
    assert comp.get_block_name() == "gallery"
    img = make_image()
    a = comp.postprocess([(img, "first"), img[:10]])
    paths = [Path(item.image.path) for item in a.root]
    assert [item.caption for item in a.root] == ["first", None]
    assert all(p.name.startswith("image.") and p.parent.name.startswith("pixelnet-") for p in paths)
    stamps = [p.stat().st_mtime_ns for p in paths]
    b = comp.postprocess([(img.copy(), "again"), img[:10].copy()])
    assert [Path(item.image.path) for item in b.root] == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamps  # not rewritten while it may be served
    assert comp.postprocess(None).root == []


def test_model_work_runs_on_the_explorer_model_thread(env) -> None:
    """Every callback's model work runs on one dedicated thread (torch thread pools started
    from many server threads slow each other down); nesting does not deadlock, errors and
    the caller's thread count carry over."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import torch

    app, p = env
    explorer = app.explorer
    names = {explorer.run(lambda: threading.current_thread().name)}
    with ThreadPoolExecutor(3) as pool:  # as Gradio's worker threads would call
        names |= set(pool.map(lambda _: explorer.run(lambda: threading.current_thread().name), range(6)))
    assert len(names) == 1 and names != {threading.current_thread().name}
    assert explorer.run(lambda: explorer.run(lambda: 42)) == 42  # a nested call runs directly
    assert explorer.run(torch.get_num_threads) == torch.get_num_threads()
    with pytest.raises(ZeroDivisionError):
        explorer.run(lambda: 1 / 0)

    seen = []
    original = type(explorer).session

    def spy(self, *args, **kwargs):
        seen.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    type(explorer).session = spy
    try:
        app.predict(_payload(p["good.png"]))
        evt = gr.SelectData(None, {"index": [3, 4], "value": None})
        app.on_select(_payload(p["good.png"]), None, None, None, None, evt)
    finally:
        type(explorer).session = original
    assert seen and set(seen) == names


def test_build_demo_loads_models_on_the_model_thread(tmp_path: Path) -> None:
    import threading

    explorer = tiny_explorer(tmp_path)
    seen = []
    get = explorer.bank.get

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return get(*args, **kwargs)

    explorer.bank.get = spy
    build_demo(explorer)
    assert seen and set(seen) == {explorer.run(lambda: threading.current_thread().name)}
