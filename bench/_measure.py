"""Shared measurement helpers of the benchmarks: timing, peak memory, machine facts.

Peak memory on CPU is the process's resident-set high-water mark (``VmHWM``) above a
baseline taken once the model, its optimiser state and a warm-up are resident. Each
measurement runs in its own process (:func:`run_isolated`) so that one mode's
allocations never count towards another's. Before the baseline the high-water mark is
reset (``/proc/self/clear_refs``, Linux >= 4.0), and glibc is told to return large
blocks to the system at once (``MALLOC_MMAP_THRESHOLD_``), so freed warm-up tensors do
not hide in the baseline. On CUDA the allocator's own peak is used instead.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from pixelnet.machine import load_avg, machine_info

__all__ = [
    "MIN_REPEATS", "MemoryMeter", "load_avg", "machine_info", "matmul_peak_gflops", "median_time", "rss_mb",
    "run_isolated", "spread", "write_json",
]

MIN_REPEATS = 5
"""Measured repeats per mode below which a figure is not quoted (the benchmarks' defaults)."""

ROOT = Path(__file__).resolve().parents[1]


def _status_mb(field: str) -> float | None:
    """A ``VmXXX`` field of ``/proc/self/status`` in MB (None where there is no procfs)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """Current resident set size in MB (peak RSS where the current one is unavailable)."""
    cur = _status_mb("VmRSS")
    return cur if cur is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemoryMeter:
    """Peak memory of a code section above the memory resident when :meth:`start` is called.

    Args:
        device: the device the work runs on (CUDA: allocator peak; otherwise process RSS).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.baseline_mb = 0.0
        self.method = ""

    def start(self) -> None:
        """Record the baseline and reset the peak."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline_mb = torch.cuda.memory_allocated(self.device) / 2**20
            self.method = "torch.cuda.max_memory_allocated - memory_allocated at start"
            return
        self.baseline_mb = rss_mb()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            self.method = "VmHWM (reset via /proc/self/clear_refs) - VmRSS at start"
        except OSError:
            self.method = "ru_maxrss - VmRSS at start (peak not resettable: includes warm-up)"

    def peak_mb(self) -> float:
        """Peak since :meth:`start`, above the baseline, in MB."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / 2**20 - self.baseline_mb
        hwm = _status_mb("VmHWM")
        if hwm is None or "ru_maxrss" in self.method:
            hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return hwm - self.baseline_mb


def median_time(fn: Callable[[], Any], *, steps: int, warmup: int = 1,
                sync: Callable[[], None] | None = None) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``steps`` calls after ``warmup`` calls.

    Returns:
        ``(median seconds, every measured time)``.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of repeated measurements (``n`` = how many)."""
    if not values:
        raise ValueError("no measurements")
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def matmul_peak_gflops(n: int = 2048, reps: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """This machine's achievable fp32 matmul rate: best of ``reps`` ``(n, n) @ (n, n)`` in GFLOP/s."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def run_isolated(script: str | Path, payload: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
    """Run ``python <script> --worker JSON`` in a fresh process and return its JSON result.

    The worker prints one JSON object as its last stdout line. glibc's mmap threshold is
    fixed low in the child so that freed large tensors leave the resident set at once.

    Raises:
        RuntimeError: when the worker fails (its stderr tail is in the message).
    """
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    proc = subprocess.run([sys.executable, str(script), "--worker", json.dumps(payload)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"{Path(script).name} worker failed (exit {proc.returncode}):\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON (creating the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
