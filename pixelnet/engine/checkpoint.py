"""Training checkpoints: atomic writes, weights-only loading, and RNG state capture.

A checkpoint (``checkpoint.pt``) holds everything a resumed run needs to continue exactly
where the interrupted one stopped: model, optimiser, scheduler and AMP scaler states, the
step, and the random states of every generator the run draws from (torch CPU/CUDA, numpy,
Python ``random``). Data order and pixel sampling are pure functions of ``(seed, step, rank)``
(see :mod:`pixelnet.engine.order`), so they need no state beyond the step.

Files are written to a temporary name in the same folder, flushed to disk and renamed over
the old file: a process killed at any moment leaves the previous checkpoint intact. Loading
uses ``torch.load(weights_only=True)``, so every stored value is a tensor or a plain type.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..outputs import atomic_path

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "atomic_save",
    "capture_rng_state",
    "load_checkpoint",
    "restore_rng_state",
]

CHECKPOINT_FORMAT = "pixelnet-checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the run resuming from it."""


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``.

    Args:
        obj: what to save (tensors and plain types, so that weights-only loading works).
        path: destination.

    Returns:
        The destination path.
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by the trainer (weights only, on CPU).

    Raises:
        CheckpointError: missing, unreadable, or not a PixelNet training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle/zip errors of a truncated or foreign file
        raise CheckpointError(f"{path} cannot be read as a checkpoint ({e.__class__.__name__}: {e})") from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} training checkpoint")
    return state


def capture_rng_state() -> dict[str, Any]:
    """Random states of torch (CPU and CUDA), numpy and Python ``random`` as tensors/plain types."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": _to_plain(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    random.setstate(_to_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_plain(x: Any) -> Any:
    return [_to_plain(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, list) else x
