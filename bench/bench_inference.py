"""Dense inference cost: one full three-task prediction (seg, normals, edges) per backbone.

The three task models share one backbone instance, so the :class:`pixelnet.predictor.Predictor`
runs the backbone once and the three heads densely (:meth:`pixelnet.PixelNet.dense`). For each
image size the time is split into the backbone pass (``Predictor.features``) and the heads
(``Predictor.predict`` on the cached features: dense heads, activation, conversion to numpy).

The heads' achieved GFLOP/s counts the multiply-adds of the dense path (the first layer as
:func:`pixelnet.dense.first_layer_macs` counts it, then the per-pixel layers; interpolation is
not counted) and is set against this machine's fp32 matmul rate measured in
the same run. Peak memory of a prediction at ``--mem-size`` runs in its own process. The
agreement figure is the largest ``|sampled - dense|`` over random pixels of a random image.

Head widths are those of the shipped models (``assets/models/*/config.json``) when present,
otherwise ``--mlp-width`` (256, as the SynthScenes models). Head weights are random (timing and
agreement do not depend on them). ``vgg16`` is the VGG-16 this project runs offline: the HED-BSDS
weights (``--weights hed-bsds``, taps ``conv1_2..conv5_3``, no fc6/fc7; ``--vgg-weights none``
times the randomly initialised network with its 4,096-channel ``fc7`` tap instead).

    python bench/bench_inference.py
    python bench/bench_inference.py --backbones vgg16 --sizes 256,512 --json runs/bench/inference.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench._measure import (  # noqa: E402
    MIN_REPEATS,
    ROOT,
    MemoryMeter,
    load_avg,
    machine_info,
    matmul_peak_gflops,
    run_isolated,
    spread,
    write_json,
)
from pixelnet import BACKBONES, TASKS, ModelConfig, PixelNet, build_backbone, build_model  # noqa: E402
from pixelnet.data import SYNTH_CLASSES  # noqa: E402
from pixelnet.dense import first_layer_macs  # noqa: E402
from pixelnet.engine import HelpFormatter  # noqa: E402
from pixelnet.heads import MLPHead  # noqa: E402
from pixelnet.predictor import Predictor  # noqa: E402


def ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Dense three-task inference: backbone vs heads, GFLOP/s, memory",
                                formatter_class=HelpFormatter)
    p.add_argument("--backbones", default="efficientnet_lite0,vgg16", help="comma-separated backbone names")
    p.add_argument("--vgg-weights", default="hed-bsds", choices=["hed-bsds", "none"],
                   help="vgg16's weights: hed-bsds (offline; conv1_2..conv5_3) or none (random, with fc7)")
    p.add_argument("--sizes", type=ints, default=[256, 512, 1024], help="square image sides to time")
    p.add_argument("--mem-size", type=int, default=2048, help="side of the peak-memory run (0: skip)")
    p.add_argument("--mlp-width", type=int, default=256,
                   help="MLP width when assets/models/*/config.json does not give the shipped widths")
    p.add_argument("--models-dir", default=str(ROOT / "assets" / "models"), help="shipped model folders")
    p.add_argument("--reps", type=int, default=MIN_REPEATS,
                   help="timed predictions per size after a warm-up (median and min-max reported)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: 0, torch's choice)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: peak-memory run, JSON payload
    return p


def shipped_widths(models_dir: str | Path, default: int) -> dict[str, list[int]]:
    """Per task, the MLP widths of the shipped model (``default`` x 2 where none is shipped)."""
    widths = {t: [default, default] for t in TASKS}
    for path in sorted(Path(models_dir).glob("*/config.json")):
        cfg = json.loads(path.read_text()).get("config", {})
        if cfg.get("task") in widths and cfg.get("head", "mlp") == "mlp" and cfg.get("mlp_widths"):
            widths[cfg["task"]] = list(cfg["mlp_widths"])
    return widths


def build_models(backbone: str, widths: dict[str, list[int]], vgg_weights: str = "none") -> dict[str, PixelNet]:
    """Three task models (all taps, MLP heads) over one shared backbone: randomly initialised, or
    for ``vgg16`` with ``vgg_weights="hed-bsds"`` the offline HED-BSDS VGG-16 (no fc6/fc7)."""
    torch.manual_seed(0)
    if backbone == "vgg16" and vgg_weights != "none":
        bb = build_backbone(backbone, weights=vgg_weights)
    else:
        bb = build_backbone(backbone, pretrained=False)
    out = {}
    for task in TASKS:
        cfg = ModelConfig(task=task, backbone=backbone, mlp_widths=widths[task],
                          class_names=list(SYNTH_CLASSES) if task == "seg" else None)
        out[task] = build_model(cfg, backbone=bb).eval()
    return out


def head_macs(model: PixelNet, feats: dict[str, torch.Tensor], size: tuple[int, int]) -> int:
    """Multiply-adds of ``model.dense`` at image ``size``: the first layer as
    :func:`pixelnet.dense.first_layer_macs` counts it, then the MLP's later layers at every pixel."""
    d = model.head.first_linear()[0].shape[0]
    macs = first_layer_macs(feats, model.taps, d, size)
    if isinstance(model.head, MLPHead):
        macs += size[0] * size[1] * sum(m.in_features * m.out_features for m in model.head.rest
                                        if isinstance(m, torch.nn.Linear))
    return macs


def random_image(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def time_size(models: dict[str, PixelNet], size: int, reps: int) -> dict[str, Any]:
    """Backbone and head seconds (median of ``reps`` after a warm-up) of one three-task prediction."""
    pred = Predictor(models, device="cpu", max_side=size)
    first = next(iter(models))
    bb_s, head_s = [], []
    for r in range(reps + 1):
        pred.set_image(random_image(size, r))
        t0 = time.perf_counter()
        feats = pred.features(first)  # one backbone pass for all three tasks (shared backbone)
        t1 = time.perf_counter()
        pred.predict()
        t2 = time.perf_counter()
        if r:  # r == 0 is the warm-up
            bb_s.append(t1 - t0)
            head_s.append(t2 - t1)
    all_feats = {n: f for m in models.values() for n, f in pred.features(m.task).items()}
    del feats
    macs = sum(head_macs(m, all_feats, (size, size)) for m in models.values())
    b, h = statistics.median(bb_s), statistics.median(head_s)
    total = spread([x + y for x, y in zip(bb_s, head_s)])
    return {"backbone_s": b, "heads_s": h, "total_s": b + h, "total_s_median": total["median"],
            "total_s_min": total["min"], "total_s_max": total["max"], "backbone_s_min": min(bb_s),
            "backbone_s_max": max(bb_s), "heads_s_min": min(head_s), "heads_s_max": max(head_s),
            "repeats": len(bb_s), "head_gmac": macs / 1e9, "head_gflops": 2 * macs / h / 1e9}


@torch.no_grad()
def agreement(models: dict[str, PixelNet], size: int = 256, pixels: int = 4096) -> float:
    """Largest ``|sampled - dense|`` of the raw outputs over ``pixels`` random pixels, all tasks."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(1, 3, size, size, generator=g)
    flat = torch.randperm(size * size, generator=g)[:pixels]
    coords = torch.stack([torch.zeros_like(flat), flat // size, flat % size], 1)  # (P, 3)
    worst = 0.0
    for m in models.values():
        feats = m.features(images)
        dense = m.dense(feats, (size, size))  # (1, K, H, W)
        at = dense[0, :, coords[:, 1], coords[:, 2]].T  # (P, K)
        worst = max(worst, float((m.head_at(feats, coords) - at).abs().max()))
    return worst


def memory_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Peak memory of one three-task prediction at ``cfg['size']``, above the loaded models."""
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    models = build_models(cfg["backbone"], cfg["widths"], cfg.get("vgg_weights", "none"))
    pred = Predictor(models, device="cpu", max_side=cfg["size"])
    pred.predict(random_image(64, 0))  # warm-up: lazy initialisation at a small size
    img = random_image(cfg["size"], 1)
    meter = MemoryMeter(torch.device("cpu"))
    meter.start()
    t = time.perf_counter()
    pred.predict(img)
    sec = time.perf_counter() - t
    return {"peak_mb": meter.peak_mb(), "baseline_mb": meter.baseline_mb, "seconds": sec,
            "memory_method": meter.method}


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.worker:
        print(json.dumps(memory_worker(json.loads(args.worker))))
        return {}
    if args.threads:
        torch.set_num_threads(args.threads)
    backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    bad = [b for b in backbones if b not in BACKBONES]
    if bad or not backbones:
        raise SystemExit(f"--backbones: unknown {bad}; choose from {sorted(BACKBONES)}")
    widths = shipped_widths(args.models_dir, args.mlp_width)
    results: dict[str, Any] = {"machine": machine_info(), "mlp_widths": widths, "vgg_weights": args.vgg_weights,
                               "sizes": args.sizes,
                               "mem_size": args.mem_size, "reps": args.reps, "load_before": load_avg()}
    peak = matmul_peak_gflops()
    for backbone in backbones:
        print(f"[{backbone}] ...", file=sys.stderr, flush=True)
        models = build_models(backbone, widths, args.vgg_weights)
        res: dict[str, Any] = {"sizes": {}}
        for size in args.sizes:
            res["sizes"][str(size)] = time_size(models, size, args.reps)
        res["max_abs_diff_sampled_vs_dense"] = agreement(models)
        del models
        if args.mem_size:
            res["memory"] = run_isolated(__file__, {"backbone": backbone, "widths": widths,
                                                    "size": args.mem_size, "threads": args.threads,
                                                    "vgg_weights": args.vgg_weights})
        results[backbone] = res
        if args.json:  # partial results survive an interrupted run
            write_json(args.json, {**results, "matmul_peak_gflops": peak, "partial": True})
    peak = max(peak, matmul_peak_gflops())  # measured before and after: the less disturbed one
    results["matmul_peak_gflops"] = peak
    results["load_after"] = load_avg()
    for backbone in backbones:
        for r in results[backbone]["sizes"].values():
            r["head_frac_of_peak"] = r["head_gflops"] / peak
    print(format_table(results, backbones))
    if args.json:
        write_json(args.json, results)
    return results


def format_table(results: dict[str, Any], backbones: list[str]) -> str:
    m = results["machine"]
    n = results.get("reps", 0)
    lines = [f"torch {m['torch']}, {m['threads']} threads, {m['cpu']}; load (1, 5, 15 min) before "
             f"{results.get('load_before')}, after {results.get('load_after')}; "
             f"fp32 matmul peak {results['matmul_peak_gflops']:.1f} GFLOP/s; "
             f"MLP widths {results['mlp_widths']}; {n} timed predictions per size"
             + (f" (fewer than {MIN_REPEATS}: do not quote)" if n < MIN_REPEATS else ""),
             f"{'backbone':<20}{'size':>6}{'backbone s':>12}{'heads s':>10}{'total s':>10}"
             f"{'(min-max)':>16}{'head GFLOP/s':>14}{'% peak':>8}",
             "-" * 96]
    for b in backbones:
        r = results[b]
        for size, t in r["sizes"].items():
            rng = f"({t.get('total_s_min', t['total_s']):.3f}-{t.get('total_s_max', t['total_s']):.3f})"
            lines.append(f"{b:<20}{size:>6}{t['backbone_s']:>12.3f}{t['heads_s']:>10.3f}{t['total_s']:>10.3f}"
                         f"{rng:>16}{t['head_gflops']:>14.1f}{100 * t['head_frac_of_peak']:>7.0f}%")
        mem = r.get("memory")
        if mem:
            lines.append(f"{b:<20}peak memory at {results['mem_size']}px: {mem['peak_mb']:.0f} MB above the "
                         f"loaded models ({mem['seconds']:.1f} s)")
        lines.append(f"{b:<20}max |sampled - dense| = {r['max_abs_diff_sampled_vs_dense']:.2e}")
    return "\n".join(lines)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
