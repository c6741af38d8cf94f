"""Checkpoints: atomic writes, weights-only loading, exact RNG state round trips."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelnet.engine import checkpoint as ck


def _state(step: int) -> dict:
    return {"format": ck.CHECKPOINT_FORMAT, "step": step, "w": torch.full((3,), float(step)),
            "rng": ck.capture_rng_state()}


def test_a_crash_while_writing_leaves_the_previous_checkpoint_loadable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoint.pt"
    ck.atomic_save(_state(1), path)
    real_save = torch.save

    def dies_halfway(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a zip")  # what a killed process leaves behind
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        ck.atomic_save(_state(2), path)
    monkeypatch.setattr(torch, "save", real_save)
    assert ck.load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left over
    ck.atomic_save(_state(3), path)
    assert ck.load_checkpoint(path)["w"].tolist() == [3.0, 3.0, 3.0]


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    ck.atomic_save(_state(0), path)
    expected = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    ck.restore_rng_state(ck.load_checkpoint(path)["rng"])  # torch.load(weights_only=True) inside
    got = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]


def test_load_rejects_missing_garbage_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(ck.CheckpointError, match="no checkpoint"):
        ck.load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(ck.CheckpointError, match="cannot be read"):
        ck.load_checkpoint(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ck.CheckpointError, match="not a"):
        ck.load_checkpoint(tmp_path / "other.pt")
