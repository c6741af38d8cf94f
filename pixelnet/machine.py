"""What machine a measurement ran on: recorded beside every benchmark and experiment result."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

__all__ = ["load_avg", "machine_info"]


def load_avg() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (empty where unavailable)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info() -> dict[str, Any]:
    """Torch version, threads, CPU model and load: recorded in every benchmark JSON."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu,
        "cpu_count": os.cpu_count(), "load_avg_1_5_15": load_avg(), "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
