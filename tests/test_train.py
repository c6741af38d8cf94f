"""Contracts of ``train/run.py`` and the training engine, in process on tiny CPU configs."""

from __future__ import annotations

import csv
import importlib.util
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pixelnet import ModelConfig
from pixelnet.engine.augment import Augment, crop_or_pad, resize_sample
from pixelnet.engine.checkpoint import load_checkpoint
from pixelnet.engine.cli import UsageError, run_cli
from pixelnet.engine.config import parse_args
from pixelnet.engine.order import DataOrder
from pixelnet.io import load_model
from pixelnet.progress import TrainLog

ROOT = Path(__file__).resolve().parents[1]

TINY = ["--data", "synth", "--synth-size", "64", "--backbone", "vgg16", "--backbone-width", "0.0625",
        "--fc-channels", "64", "--scratch", "--mlp-width", "32", "--images-per-batch", "2",
        "--pixels-per-image", "100", "--workers", "0", "--no-tensorboard", "--threads", "1"]
"""A model and data small enough for CPU tests (one step takes milliseconds)."""


def load_script(name: str):
    """Import ``train/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"pixelnet_train_{name}", ROOT / "train" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = load_script("run")


def train(argv: list[str]) -> int:
    """Run ``train/run.py`` in process; returns its exit status."""
    return run_cli(run.main, parse_args(run.get_args_parser(), argv), prog="run.py")


def losses(out: Path) -> dict[int, float]:
    with open(out / "train_log.csv", newline="") as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "seg"
    assert train([*TINY, "--task", "seg", "--iters", "4", "--ckpt-every", "2", "--val-limit", "2",
                  "--out", str(out)]) == 0
    return out


def test_run_writes_a_loadable_model_logs_and_resolved_config(seg_run: Path) -> None:
    for name in ("model.safetensors", "config.json", "checkpoint.pt", "train.yaml", "train_log.csv",
                 "val_log.csv"):
        assert (seg_run / name).is_file(), name
    model = load_model(seg_run, task="seg")
    prov = model.config.provenance
    assert prov["iterations"] == 4 and prov["command"] and prov["args"]["task"] == "seg"
    assert prov["data"]["name"] == "synth" and set(prov["metrics"]) == {"pixel_acc", "mean_acc", "miou"}
    assert sorted(losses(seg_run)) == [1, 2, 3, 4]
    ckpt = load_checkpoint(seg_run / "checkpoint.pt")  # weights_only=True
    assert ckpt["step"] == 4 and ckpt["data_order"]["seed"] == 0
    # the resolved config repeats the run: as --config it reproduces every option
    again = parse_args(run.get_args_parser(), ["--config", str(seg_run / "train.yaml")])
    first = yaml.safe_load((seg_run / "train.yaml").read_text())
    assert {k.replace("_", "-"): v for k, v in vars(again).items() if k != "config"} == first


def test_yaml_config_sets_defaults_only_and_rejects_unknown_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: edges\npixels-per-image: 50\nimages_per_batch: 3\nscales: [0.5, 1.0]\n")
    args = parse_args(run.get_args_parser(), ["--config", str(cfg), "--images-per-batch", "7"])
    got = (args.task, args.pixels_per_image, args.images_per_batch, args.scales)
    assert got == ("edges", 50, 7, [0.5, 1.0])
    cfg.write_text("pixels-per-imag: 50\n")
    with pytest.raises(SystemExit):
        parse_args(run.get_args_parser(), ["--config", str(cfg)])
    cfg.write_text("sampler: clever\n")
    with pytest.raises(SystemExit):
        parse_args(run.get_args_parser(), ["--config", str(cfg)])


def test_epochs_set_the_length_and_the_lr_steps_with_scale_crop_jitter(tmp_path: Path) -> None:
    out = tmp_path / "ep"
    assert train([*TINY, "--task", "edges", "--synth-length", "6", "--epochs", "1.5", "--lr-steps", "1",
                  "--scales", "0.5,1", "--crop", "40,48", "--jitter", "0.2",
                  "--no-val", "--out", str(out)]) == 0  # 6 scenes / 2 per step: 3 steps per epoch
    with open(out / "train_log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["lr"]) for r in rows] == [1e-3, 1e-3, 1e-3, 1e-4, 1e-4]
    assert float(rows[-1]["epoch"]) == pytest.approx(5 / 3, abs=1e-3)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from pixelnet.engine.trainer import Trainer

    real = Trainer.loss
    calls = {"n": 0}

    def poisoned(self, raw, targets):
        calls["n"] += 1
        loss = real(self, raw, targets)
        return loss * float("nan") if calls["n"] >= 4 else loss

    monkeypatch.setattr(Trainer, "loss", poisoned)
    out = tmp_path / "nan"
    rc = train([*TINY, "--task", "normals", "--iters", "8", "--ckpt-every", "2", "--no-val",
                "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert "nan" in err[-1] and "step 4" in err[-1] and "checkpoint" in err[-1] and "Traceback" not in err[-1]
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["trainer"]["model"].values() if v.is_floating_point())
    assert not (out / "model.safetensors").exists()  # nothing written from a diverged model


@pytest.mark.parametrize("extra, message", [
    (["--resume", "--data", "nyuv2", "--data-root", "/does/not/exist"], "does not exist"),
    (["--resume", "--data", "bsds500", "--data-root", "/tmp"], "no 'normals' labels"),
    (["--resume", "--data", "nyuv2", "--data-root", "EMPTY"], "nyuv2"),  # a folder without the files
    (["--resume"], "incompatible"),  # the checkpoint was written for task seg
    (["--resume", "GARBAGE"], "cannot be read"),
    ([], "already holds a run"),
    (["--sampler", "stratified"], "does not fit"),
])
def test_bad_inputs_give_one_line_errors_and_overwrite_nothing(
        seg_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    swap = {"EMPTY": str(tmp_path / "empty"), "GARBAGE": str(garbage)}
    extra = [swap.get(e, e) for e in extra]
    before = snapshot(seg_run)
    capsys.readouterr()
    rc = train([*TINY, "--task", "normals", "--iters", "6", "--out", str(seg_run), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1 and err[0].startswith("run.py: error:") and message in err[0], err
    assert snapshot(seg_run) == before


def test_a_file_missing_mid_run_in_a_loader_worker_is_a_one_line_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from pixelnet.data import DatasetError, SynthScenes

    real = SynthScenes.__getitem__

    def flaky(self, index):
        if index == 3:
            raise DatasetError("/data/images/3.jpg is missing")
        return real(self, index)

    monkeypatch.setattr(SynthScenes, "__getitem__", flaky)
    argv = [*TINY, "--task", "seg", "--synth-length", "4", "--iters", "6", "--no-val",
            "--out", str(tmp_path / "r")]
    argv[argv.index("--workers") + 1] = "1"
    assert train(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("run.py: error:") and err[-1].endswith("/data/images/3.jpg is missing")
    # the loader's workers are gone (they ignore SIGTERM: a survivor would hang the interpreter's exit)
    import multiprocessing

    assert multiprocessing.active_children() == []


def test_resume_rejects_a_checkpoint_of_another_architecture(seg_run: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    before = snapshot(seg_run)
    argv = [*TINY, "--task", "seg", "--iters", "6", "--out", str(seg_run), "--resume"]
    argv[argv.index("--mlp-width") + 1] = "64"
    assert train(argv) == 1
    assert "--mlp-width" in capsys.readouterr().err
    assert snapshot(seg_run) == before


def test_progress_is_a_bar_on_a_terminal_and_log_lines_otherwise(tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream in (Terminal(), io.StringIO()):
        out = tmp_path / type(stream).__name__
        out.mkdir()
        log = TrainLog(out, total=3, tensorboard=False, log_every=2, stream=stream)
        for step in (1, 2, 3):
            log.step(step, loss=0.5, lr=1e-3, images=5, pixels=10000, seconds=0.5, epoch=0.1 * step)
        log.close()
        text = stream.getvalue()
        if isinstance(stream, Terminal):
            assert "3/3" in text and "20000.0 px/s" in text and "step 1/3" not in text
        else:
            assert text.count("\n") == 3 and "step 2/3 loss 0.5000" in text and "eta" in text
        assert len(losses(out)) == 3


def test_flip_negates_normal_x_and_crop_pads_with_ignore() -> None:
    rng = np.random.default_rng(0)
    n = rng.normal(size=(4, 6, 3)).astype(np.float32)
    sample = {"image": rng.integers(0, 255, (4, 6, 3), dtype=np.uint8), "normals": n,
              "valid": np.ones((4, 6), bool), "seg": np.arange(24).reshape(4, 6)}
    flipped = None
    for seed in range(10):  # find a seed that flips
        out = Augment(flip=True)(sample, np.random.default_rng(seed))
        if not np.array_equal(out["image"], sample["image"]):
            flipped = out
            break
    assert flipped is not None
    np.testing.assert_array_equal(flipped["normals"][:, ::-1, 0], -n[..., 0])
    np.testing.assert_array_equal(flipped["normals"][:, ::-1, 1:], n[..., 1:])
    np.testing.assert_array_equal(flipped["seg"][:, ::-1], sample["seg"])
    padded = crop_or_pad(sample, (6, 8), -1, -1)
    assert padded["seg"][0, 0] == 255 and not padded["valid"][0].any() and padded["seg"][1, 1] == 0
    assert (padded["normals"][0] == 0).all()


def test_downscaled_edges_keep_one_pixel_boundaries() -> None:
    edges = np.zeros((8, 8), np.uint8)
    edges[:, 3] = 1  # a vertical 1-pixel boundary on an odd column
    edges[0, 0] = 255
    small = resize_sample({"image": np.zeros((8, 8, 3), np.uint8), "edges": edges}, (4, 4))["edges"]
    assert (small[:, 1] == 1).all() and small[0, 0] == 255 and (small[1:, [0, 2, 3]] == 0).all()


def test_data_order_is_resumable_and_ranks_draw_different_images() -> None:
    ranks = [DataOrder(10, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    seen = []
    for step in range(5):  # 5 steps x 2 ranks x 2 images = two epochs of 10 images
        a, b = (o.batch(step) for o in ranks)
        assert not {i for i, _ in a} & {i for i, _ in b}
        seen += [i for i, _ in a + b]
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))
    assert DataOrder(10, 2, seed=3, rank=1, world_size=2).batch(4) == ranks[1].batch(4)
    assert math.isclose(ranks[0].epoch(5), 2.0)


def test_test_time_augmentation_options_are_recorded_in_the_model_config(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "run")]
    args = parse_args(run.get_args_parser(), ["--task", "edges", "--tta-mirror", "--tta-scales", "0.75,1", *out])
    run.check_args(args)
    config = run.model_config(args)
    assert config.tta_mirror is True and config.tta_scales == [0.75, 1.0]
    assert ModelConfig.from_dict(config.to_dict()) == config
    plain = run.model_config(parse_args(run.get_args_parser(), ["--task", "edges"])).to_dict()
    assert "tta_mirror" not in plain and "tta_scales" not in plain  # older readers can load a model without them
    with pytest.raises(UsageError, match="--tta-scales"):
        run.check_args(parse_args(run.get_args_parser(), ["--task", "edges", "--tta-scales", "0,1", *out]))
