"""``train/eval.py`` and :mod:`pixelnet.evaluation.evaluate`: exact JSON keys per task, SynthScenes
windows by seed, multi-scale, full-size predictions, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train import load_script

from pixelnet import ModelConfig, build_model
from pixelnet.data import SYNTH_CLASSES
from pixelnet.engine.cli import run_cli
from pixelnet.engine.config import parse_args
from pixelnet.engine.datasets import open_dataset
from pixelnet.evaluation.evaluate import METRIC_KEYS, predict_full_size
from pixelnet.io import save_model
from pixelnet.predictor import Predictor

ev = load_script("eval")
KEYS = {
    "seg": {"pixel_acc", "mean_acc", "miou"},
    "normals": {"mean", "median", "rmse", "within_11_25", "within_22_5", "within_30"},
    "edges": {"ods", "ois", "ap"},
}


def tiny_model(task: str, classes: list[str] | None = None):
    torch.manual_seed(0)
    cfg = ModelConfig(task=task, backbone="vgg16", mlp_widths=[16, 16],
                      class_names=classes or (list(SYNTH_CLASSES) if task == "seg" else None),
                      backbone_kwargs={"width": 0.0625, "fc_channels": 64})
    return build_model(cfg)


def evaluate_cli(argv: list[str]) -> int:
    return run_cli(ev.main, parse_args(ev.get_args_parser(), argv), prog="eval.py")


def test_no_tta_scores_a_model_without_the_augmentation_it_records(tmp_path: Path) -> None:
    """``--no-tta`` reaches the predictor: a model recording mirror augmentation scores otherwise
    with it than without, and without it as the same model recording none. (Normals: their angular
    errors are continuous; a tiny random model's edge or class maps are near ties that float
    rounding can tip.)"""
    model = tiny_model("normals")
    save_model(model, tmp_path / "plain")
    model.config.tta_mirror = True
    save_model(model, tmp_path / "mirror")
    scores = {}
    for name, extra in (("plain", []), ("mirror", []), ("mirror", ["--no-tta"])):
        out = tmp_path / f"{name}{len(extra)}.json"
        assert evaluate_cli(["--model", str(tmp_path / name), "--data", "synth", "--split", "test", "--seed", "7",
                             "--limit", "2", "--synth-size", "48", "--device", "cpu", "--quiet", "--json", str(out),
                             *extra]) == 0
        scores[(name, len(extra))] = json.loads(out.read_text())
    assert scores[("mirror", 1)].pop("tta") is False and "tta" not in scores[("mirror", 0)]
    assert scores[("mirror", 1)] == pytest.approx(scores[("plain", 0)], rel=1e-5)
    assert abs(scores[("mirror", 0)]["mean"] - scores[("plain", 0)]["mean"]) > 0.01


@pytest.mark.parametrize("task", ["seg", "normals", "edges"])
def test_json_has_exactly_the_task_keys(task: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    save_model(tiny_model(task), tmp_path / "m")
    out = tmp_path / "metrics.json"
    assert evaluate_cli(["--model", str(tmp_path / "m"), "--data", "synth", "--split", "test", "--seed", "7",
                         "--limit", "2", "--synth-size", "48", "--scales", "0.5,1", "--device", "cpu",
                         "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    per_class = metrics.pop("per_class", None)
    boundary = metrics.pop("boundary", None)
    assert set(metrics) == KEYS[task] == set(METRIC_KEYS[task])
    assert all(isinstance(v, float) and np.isfinite(v) for v in metrics.values())
    if task == "seg":  # and the IoU and recall of every class, printed too
        names = tiny_model("seg").config.class_names
        assert list(per_class) == list(names) and all(set(v) == {"iou", "acc"} for v in per_class.values())
        found = [v["iou"] for v in per_class.values() if v["iou"] is not None]
        assert found and metrics["miou"] == pytest.approx(sum(found) / len(found))
        assert set(boundary) == {"boundary_precision", "boundary_recall", "boundary_f"}  # region boundaries
        assert all(0 <= v <= 1 for v in boundary.values())
    else:
        assert per_class is None and boundary is None
    table = capsys.readouterr().out
    assert "2 images" in table and all(k in table for k in KEYS[task])


def test_synth_seed_and_limit_select_a_window_of_the_split() -> None:
    ds = open_dataset("synth", task="seg", split="test", purpose="eval", synth_size=(32, 32), length=3,
                      seed_offset=5)
    assert len(ds) == 3 and ds[0]["name"] == "synth-2000005"


def test_predictions_are_scored_at_the_image_size_when_the_predictor_downsizes() -> None:
    predictor = Predictor(tiny_model("normals"), device="cpu", max_side=32)
    image = np.random.default_rng(0).integers(0, 255, (40, 64, 3), dtype=np.uint8)
    pred = predict_full_size(predictor, "normals", image)
    assert pred.shape == (40, 64, 3)
    np.testing.assert_allclose(np.linalg.norm(pred, axis=-1), 1.0, atol=1e-4)


def test_a_seg_model_of_fewer_classes_is_scored_by_name(tmp_path: Path) -> None:
    # as the shipped seg_categories (saved before the `tool` category) on --data real-categories
    old = [c for c in SYNTH_CLASSES if c != "box"]
    save_model(tiny_model("seg", old), tmp_path / "m")
    out = tmp_path / "metrics.json"
    assert evaluate_cli(["--model", str(tmp_path / "m"), "--data", "synth", "--split", "test", "--limit", "1",
                         "--synth-size", "32", "--device", "cpu", "--json", str(out)]) == 0
    per_class = json.loads(out.read_text())["per_class"]
    assert list(per_class) == list(SYNTH_CLASSES)  # the dataset's classes, the model's mapped onto them


def test_a_seg_model_for_other_classes_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    save_model(tiny_model("seg", ["a", "b", "c"]), tmp_path / "m")
    assert evaluate_cli(["--model", str(tmp_path / "m"), "--limit", "1", "--synth-size", "32"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "classes" in err[0]
    assert evaluate_cli(["--model", str(tmp_path / "nothing")]) == 1
    assert "does not exist" in capsys.readouterr().err
