"""Interrupted runs: SIGKILL + ``--resume`` continues with the same losses as an uninterrupted
run; SIGTERM saves a checkpoint and exits cleanly. The interrupted runs are real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_train import ROOT, TINY, losses, train

from pixelnet.engine.checkpoint import load_checkpoint

ARGS = [*TINY, "--task", "seg", "--ckpt-every", "3", "--no-val", "--log-every", "1"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[int, float]:
    """Losses of an uninterrupted run of 30 steps (in process)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert train([*ARGS, "--iters", "30", "--out", str(out)]) == 0
    return losses(out)


def _start(out: Path, iters: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "train" / "run.py"), *ARGS, "--iters", str(iters),
                             "--out", str(out), *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout, "the run did not start"
        time.sleep(0.005)


def test_sigkill_then_resume_gives_the_losses_of_an_uninterrupted_run(tmp_path: Path, reference) -> None:
    out = tmp_path / "run"
    proc = _start(out, 30)
    _wait_for(out / "checkpoint.pt", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(out / "checkpoint.pt")["step"]
    assert 3 <= killed_at < 30
    assert train([*ARGS, "--iters", "30", "--out", str(out), "--resume"]) == 0
    resumed = losses(out)
    assert sorted(resumed) == list(range(1, 31))
    for step in range(1, 31):
        assert resumed[step] == pytest.approx(reference[step], rel=1e-5, abs=1e-6), step


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path, reference) -> None:
    out = tmp_path / "run"
    proc = _start(out, 100_000, "--workers", "1")  # data-loader workers get the signal too
    _wait_for(out / "train_log.csv", proc)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)  # like a scheduler, Ctrl-C or pkill: the whole group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "stopping on signal SIGTERM" in err
    step = load_checkpoint(out / "checkpoint.pt")["step"]
    assert step == max(losses(out)) and (out / "model.safetensors").is_file()
    if step < 28:  # continue a few steps and compare with the uninterrupted run
        assert train([*ARGS, "--iters", str(step + 2), "--out", str(out), "--resume"]) == 0
        assert losses(out)[step + 2] == pytest.approx(reference[step + 2], rel=1e-5, abs=1e-6)
