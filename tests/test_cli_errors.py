"""Two user errors of #25 in every CLI: ``--device cuda`` on a machine without CUDA is one line, not a
traceback; ``predict.py --model imagenet-dense`` (the raw teacher) writes its predictions."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelnet.device import DeviceError, pick_device
from pixelnet.engine import run_cli

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "train"))

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def _cli(name: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    module = importlib.import_module(name)
    capsys.readouterr()
    code = run_cli(module.main, module.get_args_parser().parse_args(argv), prog=f"train/{name}.py")
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(d / "a.png")
    labels = np.zeros((40, 56), np.uint8)  # 0: unlabelled; strokes of classes 1 and 2
    labels[5:10, 5:20], labels[30:35, 30:50] = 1, 2
    Image.fromarray(labels).save(d / "labels.png")
    return d


def _assert_one_line(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and "CUDA is not available" in lines[0], err
    assert "Traceback" not in err


@no_cuda
def test_pick_device_names_the_problem() -> None:
    with pytest.raises(DeviceError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(DeviceError, match="unknown device 'gpu0'"):
        pick_device("gpu0")
    assert pick_device("cpu").type == "cpu"


@no_cuda
@pytest.mark.parametrize("name", ["run", "predict", "eval", "scribble"])
def test_device_cuda_without_cuda_is_one_line_in_every_cli(
        name: str, photo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = {
        "run": ["--task", "seg", "--data", "synth", "--iters", "1", "--out", str(tmp_path / "run")],
        "predict": ["--model", "imagenet-dense", "--images", str(photo_dir), "--out", str(tmp_path / "pred")],
        "eval": ["--model", str(REPO / "assets/models/seg"), "--data", "synth", "--limit", "1"],
        "scribble": ["--image", str(photo_dir / "a.png"), "--labels", str(photo_dir / "labels.png"),
                     "--out", str(tmp_path / "taught")],
    }[name]
    code, err = _cli(name, [*argv, "--device", "cuda"], capsys)
    assert code == 1
    _assert_one_line(err)


@no_cuda
def test_demo_device_cuda_without_cuda_is_one_line() -> None:
    sys.path.insert(0, str(REPO))
    app = importlib.import_module("demo.app")
    with pytest.raises(SystemExit) as e:
        app.main(app.get_args_parser().parse_args(["--device", "cuda"]))
    assert str(e.value).startswith("error: ") and "CUDA is not available" in str(e.value)
    assert "\n" not in str(e.value)


def test_predict_runs_the_raw_teacher(photo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--model imagenet-dense`` crashed in #25 (the teacher's predictor has no ``models``)."""
    out = tmp_path / "pred"
    code, err = _cli("predict", ["--model", "imagenet-dense", "--images", str(photo_dir / "a.png"),
                                 "--out", str(out), "--device", "cpu", "--max-side", "64"], capsys)
    assert code == 0, err
    summary = json.loads((out / "predictions.json").read_text())
    outputs = summary["images"][0]["outputs"]
    assert summary["images"][0]["error"] is None and {"a.seg.png", "a.seg_colour.png"} <= set(outputs)
    index = np.asarray(Image.open(out / "a.seg.png"))
    assert index.shape == (40, 56)
    assert "a.seg.json" in outputs  # the legend names the teacher's categories
    legend = json.loads((out / "a.seg.json").read_text())
    from pixelnet.teachers import CATEGORIES

    assert set(CATEGORIES) <= set(json.dumps(legend).replace('"', " ").split()) or any(
        c in json.dumps(legend) for c in CATEGORIES)
    present = np.unique(index)
    assert present.max() < len(CATEGORIES)
