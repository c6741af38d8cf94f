"""Served latency of the explorer's ``/predict`` and ``/teach`` at 1 and 2 torch threads, from one
session and from 20 concurrent ``gradio_client`` sessions: the figures that set ``--threads``.

For each thread count, ``python demo/app.py --threads N`` is started in its own process on
127.0.0.1 (a free port, default models), warmed up, then driven by ``gradio_client``: first one
session calling each endpoint in turn ("alone"), then ``--sessions`` clients calling at once, each
``--calls`` times. Every call is bounded (``--call-timeout``) and a phase stops issuing calls after
``--phase-s`` seconds. Latency is from the client's request to its decoded answer (upload, queue,
the model work, encoding, download); the table gives its median and 90th percentile per cell.

    python bench/bench_served.py                                  # 1 and 2 threads, 1 and 20 sessions
    python bench/bench_served.py --threads 1,2 --sessions 20 --calls 2 --json runs/bench/served.json
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench._measure import ROOT, load_avg, machine_info, write_json  # noqa: E402
from pixelnet.engine import HelpFormatter, comma_ints  # noqa: E402
from pixelnet.outputs import label_png_bytes  # noqa: E402

ENDPOINTS = ("predict", "teach")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Served predict/teach latency at 1 and 2 torch threads",
                                formatter_class=HelpFormatter)
    p.add_argument("--threads", type=comma_ints, default=[1, 2], help="torch threads of the app to compare")
    p.add_argument("--sessions", type=int, default=20, help="concurrent gradio_client sessions of the load phase")
    p.add_argument("--calls", type=int, default=2, help="calls per session and endpoint in the load phase")
    p.add_argument("--alone", type=int, default=5, help="calls per endpoint from one session (after a warm-up)")
    p.add_argument("--size", type=int, default=256, help="square test image side")
    p.add_argument("--model", action="append", default=[], metavar="DIR", help="model directory (as the app)")
    p.add_argument("--phase-s", type=float, default=60.0, help="no new call after this many seconds of a phase")
    p.add_argument("--call-timeout", type=float, default=120.0, help="seconds before a call counts as failed")
    p.add_argument("--busy", type=int, default=0,
                   help="busy-loop processes run beside the app, as other jobs on the machine (0: none)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    return p


def inputs(folder: Path, size: int) -> dict[str, Path]:
    """A photo (skimage astronaut) and a scribble label map of two classes, as files."""
    from skimage import data

    img = Image.fromarray(data.astronaut()).resize((size, size), Image.BILINEAR)
    img.save(folder / "photo.png")
    lab = np.zeros((size, size), np.uint8)
    lab[size // 8, size // 8 : size // 2] = 1  # a stroke on the background
    lab[size // 2 : size - size // 8, size // 2] = 2  # a stroke on the astronaut
    (folder / "labels.png").write_bytes(label_png_bytes(lab, 2))
    return {"image": folder / "photo.png", "labels": folder / "labels.png"}


def call(client: Any, endpoint: str, files: dict[str, Path], k: int) -> None:
    """One request of ``endpoint`` (``k`` varies the taught classes' names, so each teach is new)."""
    from gradio_client import handle_file

    if endpoint == "predict":
        client.predict(handle_file(str(files["image"])), api_name="/predict")
    else:
        client.predict(handle_file(str(files["image"])), handle_file(str(files["labels"])),
                       f"sky{k}, person{k}", 0.5, api_name="/teach")


def drive(url: str, endpoint: str, files: dict[str, Path], *, sessions: int, calls: int, phase_s: float,
          call_timeout: float, clients: list[Any] | None = None) -> dict[str, Any]:
    """Latencies of ``sessions`` concurrent clients each calling ``endpoint`` up to ``calls`` times.

    Returns:
        ``{"n", "median_s", "p90_s", "max_s", "errors", "wall_s"}`` (seconds).
    """
    from gradio_client import Client

    clients = clients or [Client(url, verbose=False) for _ in range(sessions)]
    t_end = time.perf_counter() + phase_s
    times: list[float] = []
    errors: list[str] = []

    def session(i: int) -> None:
        for j in range(calls):
            if time.perf_counter() > t_end:
                return
            t = time.perf_counter()
            try:
                with ThreadPoolExecutor(1) as one:  # bounded: a hung call counts as an error
                    one.submit(call, clients[i], endpoint, files, 1000 * i + j).result(timeout=call_timeout)
                times.append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(f"session {i} call {j}: {e!r}"[:300])

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        list(pool.map(session, range(sessions)))
    wall = time.perf_counter() - t0
    if not times:
        return {"n": 0, "errors": errors, "wall_s": round(wall, 2)}
    return {"n": len(times), "median_s": round(statistics.median(times), 3),
            "p90_s": round(float(np.percentile(times, 90)), 3), "max_s": round(max(times), 3),
            "errors": errors, "wall_s": round(wall, 2)}


def serve(threads: int, models: list[str]) -> tuple[subprocess.Popen, str]:
    """``python demo/app.py --threads N`` on a free port of 127.0.0.1; returns the process and its URL."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, str(ROOT / "demo" / "app.py"), "--host", "127.0.0.1", "--port", str(port),
           "--threads", str(threads), *[a for m in models for a in ("--model", m)]]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(480):  # up to 4 minutes to start on a busy machine
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with code {server.returncode}: {' '.join(cmd)}")
        time.sleep(0.5)
    server.terminate()
    raise RuntimeError("the app did not start in 4 minutes")


def measure(url: str, files: dict[str, Path], args: argparse.Namespace,
            log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """The cells of one served app: per endpoint, ``alone`` (one session) and ``loaded`` (``--sessions``)."""
    from gradio_client import Client

    out: dict[str, dict[str, Any]] = {}
    warm = Client(url, verbose=False)
    for endpoint in ENDPOINTS:
        call(warm, endpoint, files, -1)  # model loading, first-call overheads
        alone = drive(url, endpoint, files, sessions=1, calls=args.alone, phase_s=args.phase_s,
                      call_timeout=args.call_timeout, clients=[warm])
        loaded = drive(url, endpoint, files, sessions=args.sessions, calls=args.calls, phase_s=args.phase_s,
                       call_timeout=args.call_timeout)
        out[endpoint] = {"alone": alone, "loaded": loaded, "load_avg": load_avg()}
        log(f"  {endpoint}: alone {alone.get('median_s')} s (p90 {alone.get('p90_s')}), "
            f"{args.sessions} sessions {loaded.get('median_s')} s (p90 {loaded.get('p90_s')}), "
            f"errors {len(alone['errors']) + len(loaded['errors'])}")
    return out


def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"machine": machine_info(), "size": args.size, "sessions": args.sessions,
                              "calls": args.calls, "alone_calls": args.alone, "busy": args.busy, "threads": {}}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            files = inputs(Path(tmp), args.size)
            for n in args.threads:
                print(f"threads {n}: starting the app" + (f" ({args.busy} busy loops beside)" if busy else ""))
                server, url = serve(n, args.model)
                try:
                    result["threads"][str(n)] = measure(url, files, args)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
    finally:
        for b in busy:
            b.kill()
            b.wait()
    print(f"\n{'endpoint':<8} {'threads':>7} | {'alone median':>12} {'p90':>6} | "
          f"{args.sessions} sessions median {'p90':>6}  (seconds)")
    for endpoint in ENDPOINTS:
        for n, cells in result["threads"].items():
            a, b = cells[endpoint]["alone"], cells[endpoint]["loaded"]
            print(f"{endpoint:<8} {n:>7} | {a.get('median_s', '-'):>12} {a.get('p90_s', '-'):>6} | "
                  f"{b.get('median_s', '-'):>20} {b.get('p90_s', '-'):>6}")
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
