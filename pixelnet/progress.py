"""Training records: a CSV log, TensorBoard scalars and console progress.

The console shows a tqdm bar (iteration, loss, pixels/s, ETA) when stderr is a terminal and
plain log lines every ``log_every`` steps otherwise (CI, ``nohup``, cluster logs).
:class:`Progress` does the same for any other long loop (validation, evaluation, experiments). The CSV
files are the durable record: ``train_log.csv`` (one row per step) and ``val_log.csv`` (one
row per validation). On resume, rows after the checkpoint's step are dropped, so the logs
read as if the run had never been interrupted.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["TRAIN_FIELDS", "Progress", "TrainLog", "format_duration", "read_log", "truncate_log"]

TRAIN_FIELDS = ("step", "epoch", "loss", "lr", "images_per_s", "pixels_per_s", "elapsed_s")


def read_log(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV log (empty if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def truncate_log(path: str | Path, last_step: int) -> None:
    """Drop rows with ``step > last_step`` (rewritten atomically)."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        rows = [r for r in reader if r.get("step") and int(r["step"]) <= last_step]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def _print_line(text: str, bar: Any, stream: Any) -> None:
    """Print a line above a tqdm bar when there is one, else on its own."""
    if bar is not None:
        bar.write(text, file=stream)
    else:
        print(text, file=stream, flush=True)


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_duration(seconds: float) -> str:
    """``8.4`` -> ``"8.4 s"``, ``754`` -> ``"12.6 min"``, ``9000`` -> ``"2.5 h"``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of a long loop (validation, evaluation, experiments): a tqdm bar when ``stream``
    is a terminal, otherwise a log line at the first item, then at most every ``every_s``
    seconds, and at the end (done/total, elapsed, ETA and the latest ``note``).

    Args:
        desc: what is counted, e.g. ``"validation"``.
        total: number of items (may be changed later with :meth:`set_total`).
        unit: item name in the log lines (``"image"``).
        stream: console stream (default stderr).
        every_s: plain-line interval when not on a terminal.
        enabled: False makes every call a no-op (``--quiet``, non-zero ranks).
        tty: force the bar (True) or the lines (False); default: ``stream.isatty()``.
    """

    def __init__(self, desc: str, *, total: int = 0, unit: str = "it", stream: TextIO | None = None,
                 every_s: float = 10.0, enabled: bool = True, tty: bool | None = None) -> None:
        self.desc, self.total, self.unit, self.every_s, self.enabled = desc, total, unit, every_s, enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self.note = ""
        self.t0 = time.perf_counter()
        self._last_line = -math.inf
        self._bar: Any = None
        if enabled and (self.stream.isatty() if tty is None else tty):
            from tqdm import tqdm

            self._bar = tqdm(total=total or None, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True,
                             leave=False)

    def set_total(self, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, n: int = 1, *, note: str = "") -> None:
        """``n`` more items are done; ``note`` (e.g. ``"matching 9.6 s/image"``) is shown beside."""
        if not self.enabled:
            return
        self.done += n
        self.note = note or self.note
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(n)
            return
        now = time.perf_counter()
        if self.done == n or self.done >= self.total or now - self._last_line >= self.every_s:
            self._last_line = now
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        """The current state as one log line."""
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / max(self.done, 1) * max(self.total - self.done, 0)
        unit = self.unit if self.total == 1 else self.unit + "s"
        text = f"{self.desc}: {self.done}/{self.total} {unit}, elapsed {_fmt_time(elapsed)}, eta {_fmt_time(eta)}"
        return text + (f" ({self.note})" if self.note else "")

    def message(self, text: str) -> None:
        """Print a line (above the bar when there is one)."""
        if self.enabled:
            _print_line(text, self._bar, self.stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TrainLog:
    """Console progress plus CSV/TensorBoard records (pass ``out=None`` on non-zero ranks).

    Args:
        out: run folder, or None to write nothing (progress is then silent too).
        total: total number of steps.
        start: first step of this process (non-zero on resume).
        tensorboard: also write TensorBoard event files to ``out/tb``.
        log_every: plain-line interval when not on a terminal.
        stream: console stream (default stderr).
    """

    def __init__(self, out: Path | None, *, total: int, start: int = 0, tensorboard: bool = True,
                 log_every: int = 10, stream: TextIO | None = None) -> None:
        self.out, self.total, self.start, self.log_every = out, total, start, max(1, log_every)
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self._tb: Any = None
        self._bar: Any = None
        self._train_f: TextIO | None = None
        if out is None:
            return
        path = out / "train_log.csv"
        truncate_log(path, start)
        truncate_log(out / "val_log.csv", start)
        new = not path.is_file()
        self._train_f = open(path, "a", newline="")
        self._train = csv.DictWriter(self._train_f, fieldnames=TRAIN_FIELDS)
        if new:
            self._train.writeheader()
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # heavy import, only when used

            self._tb = SummaryWriter(str(out / "tb"), purge_step=start + 1 if start else None)
        if self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=start, file=self.stream, dynamic_ncols=True, unit="it")

    def step(self, step: int, *, loss: float, lr: float, images: int, pixels: int, seconds: float,
             epoch: float) -> None:
        """Record finished step ``step`` (1-based) that took ``seconds``."""
        if self.out is None:
            return
        elapsed = time.perf_counter() - self.t0
        row = {"step": step, "epoch": f"{epoch:.4f}", "loss": f"{loss:.6g}", "lr": f"{lr:.3g}",
               "images_per_s": f"{images / max(seconds, 1e-9):.2f}",
               "pixels_per_s": f"{pixels / max(seconds, 1e-9):.1f}", "elapsed_s": f"{elapsed:.2f}"}
        self._train.writerow(row)
        self._train_f.flush()  # type: ignore[union-attr]
        if self._tb is not None:
            self._tb.add_scalar("train/loss", loss, step)
            self._tb.add_scalar("train/lr", lr, step)
            self._tb.add_scalar("train/pixels_per_s", pixels / max(seconds, 1e-9), step)
        done = step - self.start
        eta = elapsed / max(done, 1) * (self.total - step)
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss {loss:.4f} {row['pixels_per_s']} px/s", refresh=False)
            self._bar.update(1)
        elif step % self.log_every == 0 or step == self.total or step == self.start + 1:
            self.message(f"step {step}/{self.total} loss {loss:.4f} lr {lr:.2g} "
                         f"{row['images_per_s']} img/s {row['pixels_per_s']} px/s "
                         f"elapsed {_fmt_time(elapsed)} eta {_fmt_time(eta)}")

    def validation(self, step: int, metrics: dict[str, float]) -> None:
        """Record validation metrics at ``step``."""
        if self.out is None:
            return
        path = self.out / "val_log.csv"
        new = not path.is_file()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", *metrics])
            if new:
                w.writeheader()
            w.writerow({"step": step, **{k: f"{v:.6g}" for k, v in metrics.items()}})
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(f"val/{k}", v, step)
        self.message(f"validation at step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))

    def message(self, text: str) -> None:
        """Print a line (above the bar when there is one)."""
        if self.out is not None:
            _print_line(text, self._bar, self.stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        if self._train_f is not None:
            self._train_f.close()
