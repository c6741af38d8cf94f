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

TORCHRUN_ENV = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                "GROUP_RANK", "GROUP_WORLD_SIZE", "ROLE_RANK", "ROLE_WORLD_SIZE", "ROLE_NAME")


def torchrun_env() -> dict[str, str]:
    """This process's environment without what a launcher or an earlier test may have left for
    ``torch.distributed`` (rendezvous, ranks, elastic state), at one thread per process."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV and not k.startswith("TORCHELASTIC_")}
    return {**env, "OMP_NUM_THREADS": "1"}


def rank_logs(log_dir: Path) -> str:
    """Each rank's own stderr (torchrun --log-dir), for the failure message."""
    return "\n".join(f"--- {p.relative_to(log_dir)}\n{p.read_text()[-2000:]}" for p in sorted(log_dir.rglob("*.log")))


def test_two_gloo_processes_stay_in_sync_and_complete(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "--log-dir", str(tmp_path / "logs"), "--tee", "3",
           str(ROOT / "train" / "run.py"), *TINY, "--task", "seg", "--iters", "4", "--ckpt-every", "2",
           "--val-limit", "1", "--device", "cpu", "--out", str(out)]
    proc = subprocess.run(cmd, env=torchrun_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:] + rank_logs(tmp_path / "logs")
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 4 and ckpt["world_size"] == 2
    a, b = ckpt["replica_checksums"]
    assert a == b  # identical parameters on both ranks after 4 DDP steps
    assert len(ckpt["rng"]) == 2 and not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])
    assert sorted(losses(out)) == [1, 2, 3, 4]
    assert load_model(out).config.provenance["world_size"] == 2
    # one process wrote the logs: no duplicated rows
    assert (out / "train_log.csv").read_text().count("\n4,") == 1
