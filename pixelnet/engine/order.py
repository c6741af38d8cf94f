"""Which images each process loads at each step: a resumable, rank-aware data order.

The order is a pure function of ``(seed, step, rank, world_size)``: the stream of sample
positions is a concatenation of per-epoch permutations of the dataset (one permutation per
epoch, drawn from ``seed`` and the epoch number), and step ``s`` of rank ``r`` takes the
``batch_size`` positions ``(s * world_size + r) * batch_size + j``. Like
``torch.utils.data.DistributedSampler``, ranks draw different images; unlike it, resuming
at step ``s`` needs nothing but ``s``. Each position also gets its own augmentation seed,
so augmentations do not depend on how many data-loader workers there are.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["DataOrder", "StepBatches", "derive_seed"]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from non-negative integers (independent streams for distinct ``parts``)."""
    return int(np.random.default_rng(list(parts)).integers(2**63))


class DataOrder:
    """Per-step batches of ``(dataset index, augmentation seed)`` for one rank.

    Args:
        length: dataset length ``N``.
        batch_size: images per step on this rank.
        seed: run seed.
        rank: this process's rank.
        world_size: number of processes.
        shuffle: permute each epoch (otherwise sequential order).
    """

    def __init__(self, length: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True) -> None:
        if length < 1:
            raise ValueError("the training set is empty")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self._epoch = -1
        self._perm = np.arange(length)

    def steps_per_epoch(self) -> float:
        """Steps (of all ranks together) that make one pass over the data."""
        return self.length / (self.batch_size * self.world_size)

    def epoch(self, step: int) -> float:
        """Epochs completed before ``step``."""
        return step / self.steps_per_epoch()

    def _index(self, position: int) -> int:
        epoch, i = divmod(position, self.length)
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._perm = rng.permutation(self.length) if self.shuffle else np.arange(self.length)
            self._epoch = epoch
        return int(self._perm[i])

    def batch(self, step: int) -> list[tuple[int, int]]:
        """The ``batch_size`` pairs ``(index, augmentation seed)`` of ``step`` on this rank."""
        first = (step * self.world_size + self.rank) * self.batch_size
        out = []
        for p in range(first, first + self.batch_size):
            out.append((self._index(p), derive_seed(self.seed, 1, p)))
        return out

    def batches(self, start: int, stop: int) -> Iterator[list[tuple[int, int]]]:
        """Batches of steps ``start .. stop - 1`` (a batch sampler for ``DataLoader``)."""
        for step in range(start, stop):
            yield self.batch(step)


class StepBatches:
    """A ``DataLoader`` batch sampler over steps ``start .. stop - 1`` of a :class:`DataOrder`."""

    def __init__(self, order: DataOrder, start: int, stop: int) -> None:
        self.order, self.start, self.stop = order, start, stop

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return self.order.batches(self.start, self.stop)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
