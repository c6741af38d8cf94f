"""Progress on every long step (#15, items 2-3): log lines off a terminal, a bar on one, the
validation size chosen for a CPU budget, and what train/run.py and train/eval.py print."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from test_eval import evaluate_cli, tiny_model
from test_train import TINY, load_script

from pixelnet.engine.cli import run_cli
from pixelnet.engine.config import parse_args
from pixelnet.engine.datasets import open_dataset
from pixelnet.evaluation.evaluate import choose_val_size, evaluate
from pixelnet.io import save_model
from pixelnet.progress import Progress, format_duration

run = load_script("run")


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_lines_off_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("validation", total=3, unit="image", stream=stream, every_s=3600) as p:
        for _ in range(3):
            p.update(1, note="matching 1.0 s per image")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # the first item and the last; the interval suppresses the middle one
    assert lines[0].startswith("validation: 1/3 images, elapsed 0:00:00, eta ")
    assert lines[-1].startswith("validation: 3/3 images") and "(matching 1.0 s per image)" in lines[-1]
    stream = io.StringIO()
    with Progress("x", total=2, stream=stream, enabled=False) as p:
        p.update(1)
        p.message("hidden")
    assert stream.getvalue() == ""


def test_progress_bar_on_a_terminal() -> None:
    stream = FakeTTY()
    with Progress("eval seg", total=4, unit="image", stream=stream) as p:
        p.set_total(2)
        p.update(1)
        p.update(1, note="predict 0.1 s")
        assert p._bar.n == 2 and p._bar.total == 2
    text = stream.getvalue()
    assert "eval seg" in text and "/2 [" in text and "eta" not in text  # a tqdm bar, not log lines


def test_format_duration() -> None:
    assert format_duration(8.44) == "8.4 s" and format_duration(754) == "12.6 min"
    assert format_duration(9000) == "2.5 h"


def test_choose_val_size() -> None:
    assert choose_val_size(train_s=300, available=1000) == (30.0, None)  # 10 % of 5 min
    assert choose_val_size(train_s=3600, available=1000, per_image_s=2.0) == (60.0, 30)  # CPU cap 1 min
    assert choose_val_size(train_s=3600, available=1000, per_image_s=2.0, cpu=False) == (360.0, 180)
    assert choose_val_size(train_s=4, available=1000, per_image_s=18.0)[1] == 1  # at least one image
    assert choose_val_size(train_s=10**6, available=20, per_image_s=0.1, cpu=False)[1] == 20  # at most all


def test_evaluate_stops_at_its_budget_and_reports_it() -> None:
    model = tiny_model("seg")
    ds = open_dataset("synth", task="seg", split="val", purpose="eval", synth_size=(32, 32), length=50)
    stream = io.StringIO()
    with Progress("validation", unit="image", stream=stream, every_s=0) as bar:
        evaluate(model, ds, device="cpu", progress=bar, budget_s=0.0)
    assert bar.total == 1 and bar.done == 1  # a zero budget still validates one image
    assert "validation: 1/1 image" in stream.getvalue() and "predict" in stream.getvalue()
    with Progress("validation", unit="image", stream=io.StringIO(), every_s=0) as bar:
        evaluate(model, ds, device="cpu", progress=bar, limit=3)
    assert bar.total == 3 and bar.done == 3


def test_run_without_val_limit_says_what_it_chose(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--task", "seg", *TINY, "--iters", "4", "--out", str(tmp_path / "r")]
    assert run_cli(run.main, parse_args(run.get_args_parser(), argv), prog="run.py") == 0
    err = capsys.readouterr().err
    chosen = re.search(r"validation size: (\d+) of 1000 images, chosen to take about .* of training, "
                       r"at most 1 min on a CPU\); --val-limit N sets it", err)
    assert chosen and int(chosen.group(1)) >= 1, err
    assert re.search(rf"validation: {chosen.group(1)}/{chosen.group(1)} image", err)  # per-image progress
    argv = ["--task", "seg", *TINY, "--iters", "2", "--val-limit", "2", "--out", str(tmp_path / "r2")]
    assert run_cli(run.main, parse_args(run.get_args_parser(), argv), prog="run.py") == 0
    err = capsys.readouterr().err
    assert "validation size" not in err and "validation: 2/2 images" in err


def test_eval_shows_progress_per_image_and_quiet_hides_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    save_model(tiny_model("edges"), tmp_path / "m")
    common = ["--model", str(tmp_path / "m"), "--data", "synth", "--limit", "2", "--synth-size", "32",
              "--device", "cpu"]
    assert evaluate_cli(common) == 0
    err = capsys.readouterr().err
    assert "evaluating edges on 2 images" in err and "BSDS matching" in err
    assert "eval edges: 1/2 images" in err and "eval edges: 2/2 images" in err and "matching" in err
    assert evaluate_cli([*common, "--quiet"]) == 0
    assert "eval edges" not in capsys.readouterr().err
