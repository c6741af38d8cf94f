"""From dataset samples to a training batch: augmentation per image, padding to a common
size, and the targets at sampled pixels.

A training batch is a dict of tensors: ``image`` ``(B, 3, H, W)`` float in [0, 1] and the
task's labels ``(B, H, W)`` (``normals`` ``(B, H, W, 3)``), in the layout
:func:`pixelnet.samplers.sample_pixels` reads.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .augment import PAD_VALUES, Augment, crop_or_pad
from .order import DataOrder, StepBatches

__all__ = ["TASK_KEYS", "TrainSamples", "collate", "gather_targets", "step_loader"]

TASK_KEYS: dict[str, tuple[str, ...]] = {
    "seg": ("seg",),
    "normals": ("normals", "valid"),
    "edges": ("edges",),
}
"""Label arrays a task trains on (other keys of a sample are dropped)."""


class TrainSamples(Dataset):
    """Wrap a dataset: item ``(index, seed)`` -> augmented sample with the task's labels.

    Args:
        dataset: a map-style dataset of sample dicts (``image`` uint8 ``(H, W, 3)`` + labels).
        task: the task trained (selects the label keys).
        augment: the augmentation, driven by ``np.random.default_rng(seed)``.
    """

    def __init__(self, dataset: Any, task: str, augment: Augment) -> None:
        self.dataset, self.task, self.augment = dataset, task, augment
        self.keys = ("image", *TASK_KEYS[task])

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]) -> dict[str, np.ndarray]:
        index, seed = item
        raw = self.dataset[index]
        missing = [k for k in self.keys if k not in raw]
        if missing:
            raise KeyError(f"sample {index} has no {missing} (keys: {sorted(raw)}); "
                           f"does the dataset provide task {self.task!r}?")
        sample = {k: np.asarray(raw[k]) for k in self.keys}
        return self.augment(sample, np.random.default_rng(seed))


def collate(samples: Sequence[dict[str, np.ndarray]]) -> dict[str, Tensor]:
    """Pad samples to the largest height and width (padding is ignore-labelled) and stack.

    Returns:
        ``image`` ``(B, 3, H, W)`` float32 in [0, 1]; label tensors ``(B, H, W[, 3])``.
    """
    h = max(s["image"].shape[0] for s in samples)
    w = max(s["image"].shape[1] for s in samples)
    padded = [crop_or_pad(s, (h, w), 0, 0) if s["image"].shape[:2] != (h, w) else s for s in samples]
    out: dict[str, Tensor] = {}
    for key in padded[0]:
        stacked = torch.from_numpy(np.stack([s[key] for s in padded]))
        if key == "image":
            stacked = stacked.permute(0, 3, 1, 2).float().div_(255)  # (B, 3, H, W)
        elif key == "edges":
            stacked = stacked.long()
        out[key] = stacked
    assert set(out) <= {"image", *PAD_VALUES}, f"unexpected keys {sorted(out)}"
    return out


def gather_targets(batch: dict[str, Tensor], task: str, coords: Tensor) -> dict[str, Tensor]:
    """Labels at ``(P, 3)`` coordinates ``(b, y, x)``.

    Returns:
        ``seg``: ``{"target": (P,) int64}``; ``normals``: ``{"target": (P, 3), "valid": (P,) bool}``;
        ``edges``: ``{"target": (P,) int64 1/0/255}``.
    """
    b, y, x = coords.unbind(1)
    if task == "normals":
        return {"target": batch["normals"][b, y, x], "valid": batch["valid"][b, y, x].bool()}
    return {"target": batch[TASK_KEYS[task][0]][b, y, x].long()}


def step_loader(samples: TrainSamples, order: DataOrder, first: int, stop: int, *, workers: int = 0,
                pin_memory: bool = False) -> DataLoader:
    """Collated batches of steps ``first .. stop - 1``, loaded by ``workers`` processes.

    The loader gets its own ``torch.Generator``, so creating it (again, on resume) never
    draws from the global random stream that dropout uses. Workers ignore SIGINT and SIGTERM:
    a Ctrl-C or ``kill`` aimed at the whole process group reaches the training process, which
    stops cleanly and then shuts its workers down (they also exit if it dies).
    """
    return DataLoader(samples, batch_sampler=StepBatches(order, first, stop), collate_fn=collate,
                      num_workers=workers, pin_memory=pin_memory, generator=torch.Generator(),
                      worker_init_fn=_ignore_stop_signals if workers > 0 else None)


def _ignore_stop_signals(worker_id: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
