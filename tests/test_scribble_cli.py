"""train/scribble.py and train/predict.py end to end on tiny files: the model folder they write
loads everywhere, every output file is there, and bad input is reported without a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "train"))

import predict as predict_cli  # noqa: E402
import scribble as scribble_cli  # noqa: E402

from pixelnet.engine.cli import run_cli  # noqa: E402
from pixelnet.io import load_model  # noqa: E402
from pixelnet.outputs import label_png_bytes, read_label_png  # noqa: E402


def _write_pair(folder: Path, name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (48, 64, 3)).astype(np.uint8)
    img[:, :32, 0] += 180
    img[:, 32:, 2] += 180
    Image.fromarray(img).save(folder / f"{name}.png")
    lab = np.zeros((48, 64), np.uint8)
    lab[20, 4:12], lab[30, 50:60] = 1, 2
    (folder / f"{name}.labels.png").write_bytes(label_png_bytes(lab, 2))


def _run(module, argv: list[str]) -> int:
    return run_cli(module.main, module.get_args_parser().parse_args(argv), prog=module.__name__)


def test_scribble_then_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    _write_pair(pairs, "a", 0)
    _write_pair(pairs, "b", 1)
    model_dir = tmp_path / "model"
    assert _run(scribble_cli, ["--pairs", str(pairs), "--classes", "red,blue", "--out", str(model_dir),
                               "--steps", "30"]) == 0
    model = load_model(model_dir)
    assert model.task == "seg" and model.config.class_names == ["red", "blue"]
    assert json.loads((model_dir / "config.json").read_text())["backbone_weights"] == "pretrained"
    assert "a.png" in " ".join(model.config.provenance["images"])

    images = tmp_path / "images"
    images.mkdir()
    Image.open(pairs / "a.png").save(images / "a.jpg")
    (images / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    rc = _run(predict_cli, ["--model", str(model_dir), "--model", str(REPO / "assets/models/normals"),
                            "--model", str(REPO / "assets/models/edges"), "--images", str(images),
                            "--out", str(out), "--device", "cpu"])
    assert rc == 1  # one image failed, the other was written
    assert "broken.png" in capsys.readouterr().err
    seg = np.asarray(Image.open(out / "a.seg.png"))
    assert seg.shape == (48, 64) and seg.dtype == np.uint8
    assert (seg[:, :16] == 0).mean() > 0.9 and (seg[:, -16:] == 1).mean() > 0.9  # the strokes' classes
    assert np.asarray(Image.open(out / "a.seg_colour.png")).shape == (48, 64, 3)
    n = np.load(out / "a.normals.npy")
    assert n.shape == (48, 64, 3) and n.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(n, axis=2), 1, atol=1e-4)
    assert np.asarray(Image.open(out / "a.normals.png")).shape == (48, 64, 3)
    for name in ("a.edges.png", "a.edges_nms.png"):
        e = np.asarray(Image.open(out / name))
        assert e.shape == (48, 64) and e.dtype == np.uint8
    assert json.loads((out / "a.seg.json").read_text())["classes"] == ["red", "blue"]

    # two models of one task: their files carry the model folder's name
    out2 = tmp_path / "out2"
    assert _run(predict_cli, ["--model", str(model_dir), "--model", str(REPO / "assets/models/seg"),
                              "--images", str(images / "a.jpg"), "--out", str(out2), "--device", "cpu"]) == 0
    assert (out2 / "a.seg.model.png").is_file() and (out2 / "a.seg.seg.png").is_file()

    # the reference HED beside our edges head: both written, told apart by name
    out3 = tmp_path / "out3"
    assert _run(predict_cli, ["--model", "hed", "--model", str(REPO / "assets/models/edges"),
                              "--images", str(images / "a.jpg"), "--out", str(out3), "--device", "cpu"]) == 0
    hed, ours = (np.asarray(Image.open(out3 / f"a.edges.{n}.png")) for n in ("hed", "edges"))
    assert hed.shape == ours.shape == (48, 64) and not np.array_equal(hed, ours)


def test_scribble_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_pair(tmp_path, "a", 0)
    lab = read_label_png(tmp_path / "a.labels.png")
    Image.fromarray((lab == 1).astype(np.uint8), mode="L").save(tmp_path / "one.png")
    Image.fromarray(np.zeros((10, 10), np.uint8), mode="L").save(tmp_path / "small.png")
    cases = [
        (["--image", str(tmp_path / "a.png")], "one --labels per --image"),
        (["--image", str(tmp_path / "a.png"), "--labels", str(tmp_path / "one.png")], "only 'class1' is labelled"),
        (["--image", str(tmp_path / "a.png"), "--labels", str(tmp_path / "small.png")],
         "are 10x10 but the image is 64x48"),
        (["--image", str(tmp_path / "nope.png"), "--labels", str(tmp_path / "one.png")], "does not exist"),
        ([], "give --image"),
    ]
    for argv, message in cases:
        assert _run(scribble_cli, [*argv, "--out", str(tmp_path / "m"), "--steps", "1"]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "m").exists()


def test_predict_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(predict_cli, ["--images", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "--model" in capsys.readouterr().err
    assert _run(predict_cli, ["--model", str(REPO / "assets/models/seg"), "--images", str(tmp_path / "*.jpg"),
                              "--out", str(tmp_path / "o")]) == 1
    assert "no image files" in capsys.readouterr().err
