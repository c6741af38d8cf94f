"""Cost of the label-free feature views (:mod:`pixelnet.features`) on the shipped models.

With the default models (``assets/models``, frozen ImageNet EfficientNet-Lite0) and a real
photo resized to ``--size`` squared, after the backbone pass is cached:

- ``prepare``: per image and feature space, the exact per-pixel moments, the standardised
  maps and the squared-norm maps of every tap (done once, before the first click);
- ``click``: the similarity maps of one clicked pixel for every tap plus the whole
  hypercolumn (median over ``--clicks`` random pixels), in each feature space;
- ``pca_kmeans``: PCA to RGB of the chosen taps plus k-means into ``--k`` segments (fit on
  subsampled pixels, then every pixel), standardised space; ``pca_per_tap``: one PCA image per tap.

The views run single-threaded by default, as the explorer runs them (``demo.explorer.single_thread``:
on a busy 2-core machine one thread is several times faster than two fighting for the cores).
Peak memory of the whole sequence (backbone pass included) on a ``--mem-size`` squared image
runs in its own process, above the loaded models (:class:`bench._measure.MemoryMeter`), and is
split into the backbone pass and the views alone (above the cached tap maps).

    python bench/bench_features.py
    python bench/bench_features.py --size 512 --clicks 20 --json runs/bench/features.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench._measure import ROOT, MemoryMeter, machine_info, run_isolated, write_json  # noqa: E402
from pixelnet import Predictor, load_models  # noqa: E402
from pixelnet.engine import HelpFormatter  # noqa: E402
from pixelnet.features import (  # noqa: E402
    SPACES,
    DenseHypercolumns,
    feature_spaces,
    fit_kmeans,
    fit_pca,
    kmeans_labels,
    pca_rgb,
    segment_profile,
    similarity_maps,
)
from pixelnet.image import load_image  # noqa: E402
from pixelnet.tasks import TASKS  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Feature-view benchmark (similarity, PCA, k-means)",
                                formatter_class=HelpFormatter)
    p.add_argument("--models-dir", default=str(ROOT / "assets" / "models"), help="folder of task model folders")
    p.add_argument("--image", default=str(ROOT / "assets" / "examples" / "chelsea.jpg"), help="photo to use")
    p.add_argument("--taps", default=None, help="taps of the hypercolumn (default: every backbone tap)")
    p.add_argument("--size", type=int, default=512, help="square image side of the timings")
    p.add_argument("--clicks", type=int, default=20, help="clicks per feature space")
    p.add_argument("--reps", type=int, default=3, help="repetitions of PCA + k-means")
    p.add_argument("--k", type=int, default=8, help="k-means segments")
    p.add_argument("--mem-size", type=int, default=2048, help="square side of the peak-memory run (0: skip)")
    p.add_argument("--threads", type=int, default=0, help="torch threads of the backbone pass (0: torch's choice)")
    p.add_argument("--view-threads", type=int, default=1,
                   help="torch threads of the views (1, as the explorer runs them; 0: as --threads)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: peak-memory run, JSON payload
    return p


def load(models_dir: str | Path) -> dict[str, Any]:
    """The task models found in ``models_dir`` (sharing one backbone)."""
    dirs = {t: Path(models_dir) / t for t in TASKS if (Path(models_dir) / t / "config.json").is_file()}
    if not dirs:
        raise SystemExit(f"no task models in {models_dir}")
    return load_models(dirs)


def photo(path: str | Path, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(load_image(path)).resize((size, size), Image.BILINEAR))


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` threads inside (0: unchanged)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_views(pred: Predictor, img: np.ndarray, *, taps: str | None, clicks: int, k: int, reps: int,
              seed: int = 0, view_threads: int = 1) -> dict[str, Any]:
    """Every view once per feature space on ``img`` (the views with ``view_threads`` torch threads);
    returns the timings in seconds."""
    t = time.perf_counter()
    pred.set_image(img)
    raw = DenseHypercolumns.from_predictor(pred, taps=taps or list(pred.models[pred.tasks[0]].backbone.tap_names))
    out: dict[str, Any] = {"backbone_s": time.perf_counter() - t, "taps": raw.tap_names, "channels": raw.channels}
    with threads(view_threads):
        out.update(_views(raw, clicks=clicks, k=k, reps=reps, seed=seed))
    out["view_threads"] = torch.get_num_threads() if not view_threads else view_threads
    return out


def _views(raw: DenseHypercolumns, *, clicks: int, k: int, reps: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    h, w = raw.size
    rng = np.random.default_rng(seed)
    spaces = {}
    for space in SPACES:
        t = time.perf_counter()
        (hc,) = feature_spaces([raw], space)
        for name in hc.tap_names:
            hc.squared_norms(name)
        prep = time.perf_counter() - t
        times = []
        for y, x in zip(rng.integers(0, h, clicks), rng.integers(0, w, clicks)):
            t = time.perf_counter()
            similarity_maps(hc, int(y), int(x))
            times.append(time.perf_counter() - t)
        spaces[space] = hc
        out[space] = {"prepare_s": prep, "click_median_s": statistics.median(times), "click_max_s": max(times)}
    hc = spaces["standardised"]
    pk, per_tap, prof = [], [], []
    for r in range(reps):
        t = time.perf_counter()
        pca_rgb(hc, fit_pca(hc, seed=r))
        labels = kmeans_labels(hc, fit_kmeans(hc, k, seed=r))
        pk.append(time.perf_counter() - t)
        t = time.perf_counter()
        segment_profile(hc, labels, 0)
        prof.append(time.perf_counter() - t)
        t = time.perf_counter()
        for name in hc.tap_names:
            pca_rgb(hc, fit_pca(hc, [name], seed=r))
        per_tap.append(time.perf_counter() - t)
    out.update(pca_kmeans_median_s=statistics.median(pk), pca_per_tap_median_s=statistics.median(per_tap),
               segment_profile_median_s=statistics.median(prof))
    return out


def memory_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Peak memory of every view on a ``cfg['size']`` squared photo, above the loaded models."""
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    pred = Predictor(load(cfg["models_dir"]), device="cpu", max_side=cfg["size"])
    vt = cfg.get("view_threads", 1)
    run_views(pred, photo(cfg["image"], 64), taps=cfg["taps"], clicks=1, k=cfg["k"], reps=1, view_threads=vt)
    img = photo(cfg["image"], cfg["size"])
    cpu = torch.device("cpu")
    meter = MemoryMeter(cpu)
    meter.start()
    t = time.perf_counter()
    pred.set_image(img)
    every = list(pred.models[pred.tasks[0]].backbone.tap_names)
    raw = DenseHypercolumns.from_predictor(pred, taps=cfg["taps"] or every)
    backbone_mb = meter.peak_mb()
    views = MemoryMeter(cpu)  # from here on: the views alone, above the cached tap maps
    views.start()
    with threads(vt):
        _views(raw, clicks=cfg["clicks"], k=cfg["k"], reps=1, seed=0)
    views_mb = views.peak_mb()
    sec = time.perf_counter() - t
    total = max(backbone_mb, views.baseline_mb + views_mb - meter.baseline_mb)
    return {"size": cfg["size"], "peak_mb": total, "backbone_pass_peak_mb": backbone_mb, "views_peak_mb": views_mb,
            "baseline_mb": meter.baseline_mb, "seconds": sec, "memory_method": meter.method}


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.worker:
        print(json.dumps(memory_worker(json.loads(args.worker))))
        return {}
    if args.threads:
        torch.set_num_threads(args.threads)
    pred = Predictor(load(args.models_dir), device="cpu", max_side=max(args.size, 64))
    vt = args.view_threads
    run_views(pred, photo(args.image, 64), taps=args.taps, clicks=2, k=args.k, reps=1, view_threads=vt)  # warm-up
    res = run_views(pred, photo(args.image, args.size), taps=args.taps, clicks=args.clicks, k=args.k, reps=args.reps,
                    view_threads=vt)
    result: dict[str, Any] = {"machine": machine_info(), "size": args.size, "image": Path(args.image).name,
                              "k": args.k, "clicks": args.clicks, "reps": args.reps, **res}
    if args.mem_size:
        result["memory"] = run_isolated(__file__, {"models_dir": args.models_dir, "image": args.image,
                                                   "taps": args.taps, "size": args.mem_size, "k": args.k,
                                                   "clicks": 3, "threads": args.threads, "view_threads": vt})
    print(format_table(result))
    if args.json:
        write_json(args.json, result)
    return result


def format_table(r: dict[str, Any]) -> str:
    lines = [f"feature views, {r['size']}x{r['size']} {r['image']}, taps {','.join(r['taps'])} "
             f"({r['channels']} channels), backbone {r['machine']['threads']} threads, views {r['view_threads']}"]
    lines.append(f"{'backbone pass':>34}: {r['backbone_s']:.3f} s")
    for space in SPACES:
        s = r[space]
        lines.append(f"{space + ' prepare':>34}: {s['prepare_s']:.3f} s")
        lines.append(f"{space + ' click (all maps), median':>34}: {1000 * s['click_median_s']:.1f} ms "
                     f"(max {1000 * s['click_max_s']:.1f} ms)")
    label = f"PCA + k-means (k={r['k']}), median"
    lines.append(f"{label:>34}: {r['pca_kmeans_median_s']:.3f} s")
    lines.append(f"{'PCA of every tap, median':>34}: {r['pca_per_tap_median_s']:.3f} s")
    lines.append(f"{'segment profile, median':>34}: {r['segment_profile_median_s']:.3f} s")
    if "memory" in r:
        m = r["memory"]
        label = f"peak memory at {m['size']}^2"
        lines.append(f"{label:>34}: {m['peak_mb']:.0f} MB above the loaded models ({m['seconds']:.1f} s); "
                     f"backbone pass {m['backbone_pass_peak_mb']:.0f} MB, views {m['views_peak_mb']:.0f} MB "
                     "above the cached tap maps")
    return "\n".join(lines)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
