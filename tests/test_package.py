"""`import pixelnet` is silent, light (no gradio/timm at import) and needs no network."""

from __future__ import annotations

import subprocess
import sys


def test_import_prints_nothing_and_stays_light():
    code = (
        "import socket\n"
        "def _no_net(*a, **k):\n"
        "    raise RuntimeError('network access during import')\n"
        "socket.socket.connect = _no_net\n"
        "socket.create_connection = _no_net\n"
        "import sys, pixelnet\n"
        "heavy = sorted(m for m in ('gradio', 'timm', 'matplotlib') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "" and res.stderr == ""
