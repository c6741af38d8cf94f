"""``train/run.py`` under ``torchrun``: two CPU processes (gloo) train a tiny model to the end
with their parameters in sync (checked by the run at every checkpoint, recorded in it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from test_train import ROOT, TINY, losses

from pixelnet.engine.checkpoint import load_checkpoint
from pixelnet.io import load_model


def test_two_gloo_processes_stay_in_sync_and_complete(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "train" / "run.py"), *TINY, "--task", "seg", "--iters", "4", "--ckpt-every", "2",
           "--val-limit", "1", "--device", "cpu", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 4 and ckpt["world_size"] == 2
    a, b = ckpt["replica_checksums"]
    assert a == b  # identical parameters on both ranks after 4 DDP steps
    assert len(ckpt["rng"]) == 2 and not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])
    assert sorted(losses(out)) == [1, 2, 3, 4]
    assert load_model(out).config.provenance["world_size"] == 2
    # one process wrote the logs: no duplicated rows
    assert (out / "train_log.csv").read_text().count("\n4,") == 1
