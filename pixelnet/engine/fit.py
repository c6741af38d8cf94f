"""The training loop: steps, logging, periodic validation, checkpoints, clean stops.

:func:`fit` drives a :class:`~pixelnet.engine.trainer.Trainer` from step ``start`` to
``iters``. It writes (rank 0 only) ``checkpoint.pt`` every ``ckpt_every`` steps, the model
files (``model.safetensors`` + ``config.json``) at each validation and at the end, and the
logs of :class:`~pixelnet.progress.TrainLog`. SIGTERM or Ctrl-C finishes the current
step, saves a checkpoint and the model, and returns (a second Ctrl-C aborts at once). A
non-finite loss stops the run before the update and leaves the last good checkpoint as it
was; a checkpoint is never written from non-finite parameters.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pixelnet.progress import TrainLog

from ..io import save_model
from ..model import PixelNet
from .checkpoint import CHECKPOINT_FORMAT, atomic_save, capture_rng_state
from .distributed import all_gather_objects, barrier
from .order import DataOrder
from .trainer import NonFiniteLossError, Trainer

__all__ = ["CHECKPOINT_NAME", "FitResult", "TrainingStopped", "fit"]

CHECKPOINT_NAME = "checkpoint.pt"


class TrainingStopped(RuntimeError):
    """The run stopped on an error it cannot continue from (e.g. a NaN loss)."""


@dataclass
class FitResult:
    """How :func:`fit` ended.

    Attributes:
        step: last completed step.
        signal: the signal number that stopped the run early (None if it completed).
        metrics: last validation metrics.
        elapsed_s: training wall time, summed over resumed segments.
    """

    step: int
    signal: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0


@contextmanager
def _stop_on_signals() -> Iterator[dict[str, int | None]]:
    """Turn SIGTERM/SIGINT into a flag (a second SIGINT raises ``KeyboardInterrupt``)."""
    flag: dict[str, int | None] = {"signal": None}

    def handler(signum: int, frame: Any) -> None:
        if flag["signal"] is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["signal"] = signum

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def fit(trainer: Trainer, batches: Callable[[int], Iterable[dict[str, torch.Tensor]]], order: DataOrder, *,
        out: Path, iters: int, start: int = 0, ckpt_every: int = 500, val_every: int = 0,
        validate: Callable[[PixelNet], dict[str, float]] | None = None, save_backbone: str = "include",
        provenance: dict[str, Any] | None = None, meta: dict[str, Any] | None = None,
        elapsed_before: float = 0.0, tensorboard: bool = True, log_every: int = 10,
        on_validate: Callable[[int, float], None] | None = None) -> FitResult:
    """Train from step ``start`` to ``iters``.

    Args:
        trainer: the trainer (model, optimiser, scheduler, loss).
        batches: ``batches(start)`` yields the collated batches of steps ``start, start + 1, ...``.
        order: the data order (for epoch bookkeeping).
        out: run folder (written on rank 0 only).
        iters: total steps.
        start: first step (from a checkpoint when resuming).
        ckpt_every: checkpoint interval in steps (a checkpoint is also written at the end).
        val_every: validation interval in steps (0: only at the end, if ``validate`` is given).
        validate: model -> metrics, run on rank 0.
        save_backbone: ``save_model``'s ``backbone`` option.
        provenance: training record stored in ``config.json`` (updated with steps, time, metrics).
        meta: extra plain values stored in every checkpoint (e.g. args, model config).
        elapsed_before: wall time of earlier segments of a resumed run.
        tensorboard: write TensorBoard scalars.
        log_every: console line interval when not on a terminal.
        on_validate: called on rank 0 before each validation with ``(step, training_s)``, the
            estimated wall time of the whole run's training (elapsed time at the last step), e.g.
            to size the validation.

    Raises:
        TrainingStopped: non-finite loss (the last good checkpoint is kept).
    """
    ctx = trainer.ctx
    main = ctx.is_main
    log = TrainLog(out if main else None, total=iters, start=start, tensorboard=tensorboard,
                   log_every=log_every)
    t_start = time.perf_counter()
    result = FitResult(step=start, metrics={})

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t_start

    def save_checkpoint(step: int) -> None:
        rng = all_gather_objects(capture_rng_state(), ctx)  # every rank takes part
        sums = all_gather_objects(trainer.checksum(), ctx)
        if max(sums) - min(sums) > 1e-9 * max(1.0, abs(sums[0])):
            raise TrainingStopped(f"model replicas diverged at step {step} (parameter checksums {sums})")
        if not main:
            return
        if not trainer.params_finite():
            raise TrainingStopped(f"parameters became non-finite at step {step}; "
                                  f"the last good checkpoint in {out / CHECKPOINT_NAME} is kept")
        atomic_save({
            "format": CHECKPOINT_FORMAT, "step": step, "trainer": trainer.state_dict(), "rng": rng,
            "replica_checksums": sums, "world_size": ctx.world_size, "elapsed_s": elapsed(),
            "metrics": dict(result.metrics),
            "data_order": {"seed": order.seed, "length": order.length, "epoch": order.epoch(step)},
            **(meta or {}),
        }, out / CHECKPOINT_NAME)

    def save_files(step: int) -> None:
        if not main:
            return
        rec = dict(provenance or {})
        rec.update(iterations=step, epochs=round(order.epoch(step), 4), wall_time_s=round(elapsed(), 1),
                   metrics=dict(result.metrics))
        trainer.model.config.provenance = rec
        save_model(trainer.model, out, backbone=save_backbone)

    def run_validation(step: int) -> None:
        if validate is not None and main:
            if on_validate is not None:
                done = max(step - start, 1)
                on_validate(step, elapsed_before + (time.perf_counter() - t_start) / done * (iters - start))
            result.metrics = {k: float(v) for k, v in validate(trainer.model).items()}
            log.validation(step, result.metrics)
        barrier(ctx)
        trainer.train_mode()

    step = start
    loader = iter(batches(start))
    try:
        with _stop_on_signals() as flag:
            t_last = time.perf_counter()
            for batch in loader:
                if step >= iters:
                    break
                lr = trainer.lr  # the rate this step uses
                try:
                    res = trainer.step(batch, step, stop_requested=flag["signal"] is not None)
                except NonFiniteLossError as e:
                    raise TrainingStopped(f"{e}; stopping without an update. The last good checkpoint "
                                          f"({out / CHECKPOINT_NAME}) is kept") from e
                step += 1
                now = time.perf_counter()
                log.step(step, loss=res.loss, lr=lr, images=res.images, pixels=res.pixels,
                         seconds=now - t_last, epoch=order.epoch(step))
                result.step = step
                if res.stop:
                    sig = flag["signal"] or signal.SIGTERM
                    log.message(f"stopping on signal {signal.Signals(sig).name} at step {step}: "
                                f"saving a checkpoint (continue with --resume)")
                    save_checkpoint(step)
                    save_files(step)
                    result.signal = sig
                    break
                if val_every and step % val_every == 0 and step < iters:
                    run_validation(step)
                    save_files(step)
                if step % ckpt_every == 0 or step == iters:
                    if step == iters and validate is not None:
                        run_validation(step)
                    save_checkpoint(step)
                    if step == iters:
                        save_files(step)
                t_last = time.perf_counter()
            else:
                if step < iters:
                    raise TrainingStopped(f"the data ran out at step {step} of {iters}")
        if step >= iters and result.signal is None and step == start:
            log.message(f"nothing to do: the run is already at step {step} of {iters}")
    finally:
        log.close()
        # Loader workers ignore SIGTERM (batching.step_loader), so one still alive at interpreter
        # exit would hang multiprocessing's join. An error raised in a worker keeps the iterator
        # alive in its traceback; shut the workers down here rather than when that is collected.
        shutdown = getattr(loader, "_shutdown_workers", None)
        if callable(shutdown):
            shutdown()
    result.elapsed_s = elapsed()
    return result
