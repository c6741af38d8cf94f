"""Latency of the explorer's server side: ``predict`` (all three tasks) and an inspector click.

Measures the app's own callbacks (decoding, the backbone pass shared by the tasks, the
dense heads, NMS and the pictures; for a click: the exact per-tap Shapley values of all
tasks and the inspector's pictures) with the models the app would load by default.
Every predict repetition uses a new image, so nothing is served from the feature cache;
clicks reuse the cached features of one image, as in the app. Last, ``/predict`` is timed
with ``gradio_client`` against ``python demo/app.py`` started in its own process on a local port
(upload, the callback, encoding of the output pictures, download): the figure a user waits for.

    python bench/bench_demo.py                # default models (or the untrained fallback)
    python bench/bench_demo.py --model runs/x --size 512 --reps 5 --json runs/bench/demo.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench._measure import ROOT, write_json  # noqa: E402
from demo.app import ExplorerApp, build_explorer  # noqa: E402
from pixelnet.engine import HelpFormatter  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Explorer latency benchmark (predict and inspect)",
                                formatter_class=HelpFormatter)
    p.add_argument("--model", action="append", default=[], metavar="DIR",
                   help="model directory (as the app; repeatable)")
    p.add_argument("--size", type=int, default=512, help="square test image side")
    p.add_argument("--reps", type=int, default=5, help="predict repetitions (new image each)")
    p.add_argument("--clicks", type=int, default=20, help="inspector clicks")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: 0, torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    p.add_argument("--multiscale-reps", type=int, default=3, help="predict repetitions with scales 0.5, 1, 1.5")
    p.add_argument("--e2e-reps", type=int, default=5,
                   help="predict calls through the served app with gradio_client (0: skip)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    return p


def _photo(size: int, seed: int) -> np.ndarray:
    """A real photo (skimage astronaut) resized to ``size``, slightly varied per seed."""
    from skimage import data

    img = np.asarray(Image.fromarray(data.astronaut()).resize((size, size), Image.BILINEAR)).astype(np.int16)
    img += np.random.default_rng(seed).integers(-3, 4, size=img.shape, dtype=np.int16)
    return img.clip(0, 255).astype(np.uint8)


def served_predict_s(size: int, reps: int, models: list[str], device: str, threads: int) -> list[float]:
    """Seconds of ``/predict`` from a ``gradio_client`` in this process to ``python demo/app.py``
    served in its own process (as a user's browser and server are): PNG upload, decoding, the
    models, encoding of the output pictures, download."""
    import socket
    import subprocess
    import tempfile

    import httpx
    from gradio_client import Client, handle_file

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, str(ROOT / "demo" / "app.py"), "--port", str(port), "--device", device]
    cmd += [a for m in models for a in ("--model", m)] + (["--threads", str(threads)] if threads else [])
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):  # up to 2 minutes to start
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"the app exited with code {server.returncode}: {' '.join(cmd)}")
            time.sleep(0.5)
        client = Client(url, verbose=False)
        out = []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(reps + 1):  # the first call (i == 0) is a warm-up
                path = Path(tmp) / f"photo{i}.png"
                Image.fromarray(_photo(size, 20_000 + i)).save(path)
                t = time.perf_counter()
                client.predict(handle_file(str(path)), api_name="/predict")
                if i:
                    out.append(time.perf_counter() - t)
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(args: argparse.Namespace) -> dict[str, object]:
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    app = ExplorerApp(build_explorer(models=args.model, device=args.device))
    labels = {t: app.bank.default(t) for t in app.bank.choices}
    warm = _photo(args.size, 10_000)
    app.predict(warm)  # loads models, first-call overheads
    startup = time.perf_counter() - t0

    predict_s, dense_s = [], []
    for i in range(args.reps):
        img = _photo(args.size, i)
        t = time.perf_counter()
        app.predict(img)
        predict_s.append(time.perf_counter() - t)
        s = app.explorer.run(app.explorer.session, img)
        s._outputs.clear()  # time the model part alone (features stay cached)
        t = time.perf_counter()
        app.explorer.run(s.predict)  # on the app's model thread, like every model call
        dense_s.append(time.perf_counter() - t)

    multi_s = []
    for i in range(args.multiscale_reps):
        img = _photo(args.size, 30_000 + i)
        t = time.perf_counter()
        app.predict(img, multiscale=True)
        multi_s.append(time.perf_counter() - t)

    rng = np.random.default_rng(0)
    clicks = rng.integers(0, args.size, size=(args.clicks + 1, 2))
    inspect_s, api_s = [], []
    for j, (x, y) in enumerate(clicks):
        evt = gr.SelectData(None, {"index": [int(x), int(y)], "value": None})
        t = time.perf_counter()
        app.on_select(warm, None, None, None, None, evt)
        if j:  # the first click also builds the per-image activation thumbnails
            inspect_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        app.inspect(warm, int(x), int(y))
        api_s.append(time.perf_counter() - t)

    served_s = []
    if args.e2e_reps:
        served_s = served_predict_s(args.size, args.e2e_reps, args.model, args.device, args.threads)

    result = {
        "size": args.size,
        "models": labels,
        "torch_threads": torch.get_num_threads(),
        "startup_s": round(startup, 2),
        "predict_median_s": round(statistics.median(predict_s), 3),
        "predict_heads_only_median_s": round(statistics.median(dense_s), 3),
        "predict_multiscale_median_s": round(statistics.median(multi_s), 3) if multi_s else None,
        "served_predict_median_s": round(statistics.median(served_s), 3) if served_s else None,
        "inspect_click_median_ms": round(1000 * statistics.median(inspect_s), 1),
        "inspect_api_median_ms": round(1000 * statistics.median(api_s), 1),
        "reps": args.reps,
        "multiscale_reps": args.multiscale_reps,
        "e2e_reps": args.e2e_reps,
        "clicks": args.clicks,
    }
    for k, v in result.items():
        print(f"{k:>30}: {v}")
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
