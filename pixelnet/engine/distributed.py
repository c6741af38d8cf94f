"""Distributed data-parallel context: the same script runs alone or under ``torchrun``.

``torchrun --nproc_per_node N`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; when they
are present (and ``WORLD_SIZE > 1``) :func:`init_distributed` joins the process group with
NCCL on GPUs and gloo on CPU. Every helper here is a no-op in a single process, so training
code calls them unconditionally. Only rank 0 writes files.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..device import pick_device

__all__ = [
    "DistContext", "all_gather_objects", "all_reduce_sum", "barrier", "cleanup", "die_with_parent",
    "init_distributed", "shard",
]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job.

    Attributes:
        rank: global rank (0 in a single process).
        world_size: number of processes.
        local_rank: rank on this node (selects the GPU).
        device: the device this process trains on.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and prints progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistContext:
    """Read the ``torchrun`` environment, pick the device and join the process group.

    Args:
        device: ``"auto"`` or an explicit device; under ``torchrun`` with CUDA each process
            takes ``cuda:LOCAL_RANK``.

    Returns:
        The context of this process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device)
    if world > 1:
        die_with_parent()
        if dev.type == "cuda":
            dev = torch.device("cuda", local)
            torch.cuda.set_device(dev)
        elif dev.type != "cpu":
            raise ValueError(f"distributed training supports CUDA (NCCL) and CPU (gloo), not {dev.type}")
        if not dist.is_initialized():
            # rank 0 validates while the others wait in a barrier: allow long validations
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo",
                                    timeout=timedelta(minutes=60))
    return DistContext(rank=rank, world_size=world, local_rank=local, device=dev)


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent (``torchrun``) dies.

    ``torchrun`` starts each rank in a session of its own, so a ``kill -9`` of ``torchrun`` (or
    of its process group) leaves the ranks running as orphans: they keep writing while a rerun
    starts. With this, they get ``sig`` (SIGTERM: a training run saves its checkpoint, a batch
    prediction leaves only complete files). If the parent is already gone, ``sig`` is sent now.

    Returns:
        True where it is in force (Linux), False elsewhere (a no-op).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() == 1:  # orphaned before the call: the parent's death was missed
        os.kill(os.getpid(), sig)
    return True


def shard(items: Sequence[T], ctx: DistContext) -> list[T]:
    """This process's share of ``items``: every ``world_size``-th item from index ``rank``.

    A pure function of the sequence and the rank, so every process computes its share without
    talking to the others; the shares are disjoint, cover every item and differ in length by
    at most one. Give the same sequence (e.g. sorted) on every rank.
    """
    return list(items[ctx.rank :: ctx.world_size])


def _released_by_gloo(tensors: Sequence[torch.Tensor], timeout_s: float = 60.0) -> None:
    """Return once no gloo worker thread holds ``tensors`` any more (this Python code is their
    only owner: use count 1).

    A blocking gloo collective returns as soon as its result is ready, but the worker thread that
    ran it lets go of the work, and so of the work's tensors, a moment later. Were Python to drop
    a tensor before that, the worker would free the tensor's Python object and take the GIL to do
    it. If the interpreter has begun to shut down by then (a rank that leaves right after its last
    collective, e.g. rank 1 after the final checkpoint, on a busy machine), Python 3.11 ends the
    thread with ``pthread_exit``, whose unwinding through the work's ``noexcept`` destructor
    calls ``std::terminate`` ("terminate called without an active exception", SIGABRT) and fails
    the whole torchrun job. Waiting here (without the GIL) leaves the worker nothing of Python's
    to free.
    """
    deadline = time.monotonic() + timeout_s
    while any(t._use_count() > 1 for t in tensors):
        if time.monotonic() > deadline:
            print("warning: a gloo worker still holds a collective's tensors after "
                  f"{timeout_s:.0f} s", file=sys.stderr)
            return
        time.sleep(0.001)


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum a tensor over all processes (returns a new tensor; identity in one process)."""
    out = values.detach().clone()
    if ctx.distributed:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        if out.device.type == "cpu":
            _released_by_gloo([out])  # the caller may drop `out` at once (and exit)
    return out


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Gather one picklable object from every rank, in rank order."""
    if not ctx.distributed:
        return [obj]
    if ctx.device.type != "cpu":  # NCCL: no gloo worker threads
        out: list[Any] = [None] * ctx.world_size
        dist.all_gather_object(out, obj)
        return out
    # gloo: torch's all_gather_object as two all_gathers of tensors held until the gloo workers
    # have let go of them (_released_by_gloo; all_gather_object drops its tensors at once)
    data = torch.frombuffer(bytearray(pickle.dumps(obj)), dtype=torch.uint8)
    size = torch.tensor([data.numel()], dtype=torch.int64)
    sizes = [torch.zeros_like(size) for _ in range(ctx.world_size)]
    dist.all_gather(sizes, size)
    lengths = [int(s.item()) for s in sizes]
    mine = torch.zeros(max(lengths), dtype=torch.uint8)
    mine[: data.numel()] = data
    gathered = [torch.empty_like(mine) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, mine)
    _released_by_gloo([size, *sizes, mine, *gathered])
    return [pickle.loads(g.numpy()[:n].tobytes()) for g, n in zip(gathered, lengths)]


def barrier(ctx: DistContext) -> None:
    """Wait for every process (no-op in one process)."""
    if ctx.distributed:
        dist.barrier()


def cleanup(ctx: DistContext) -> None:
    """Leave the process group."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
