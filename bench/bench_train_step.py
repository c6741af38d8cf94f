"""Training-step cost of on-demand sampling vs FCN-style dense hypercolumns (PixelNet Table 3).

The paper's setting: VGG-16 with hypercolumn taps ``{conv1_2, conv3_3, conv5_3}``, one
224 x 224 image per step, the whole network trained (forward, backward and an SGD step).

- ``sampled``: PixelNet's on-demand path, the head runs on 2,000 sampled hypercolumns
  (:meth:`pixelnet.PixelNet.forward`);
- ``dense``: every tap is upsampled to the full image with ``F.interpolate`` (bilinear,
  which equals the sampler's interpolation for VGG's tap geometry), the maps are
  concatenated and the head runs on all 50,176 pixels (the paper's "FCN/Deconvolution").

Each head (MLP, linear) and mode runs in its own process: updates per second are the median
over ``--steps`` steps after ``--warmup``; peak memory is above the resident model, optimiser
state and warm-up (see ``bench/_measure.py``). The paper's MLP is 4096 wide; the default here
is 1024 so that the dense MLP step (about 0.6 TFLOP) finishes in seconds on a CPU. VGG's
fc6/fc7 are not tapped, so they are built 64 channels wide (they are never run). Labels are
random: the cost does not depend on them.

    python bench/bench_train_step.py                      # MLP 1024 and linear, 224 px
    python bench/bench_train_step.py --mlp-width 4096 --json runs/bench/train_step.json
    python bench/bench_train_step.py --config configs/bench/train_step_paper_mlp.yaml   # the same as a file
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench._measure import (  # noqa: E402
    MIN_REPEATS,
    MemoryMeter,
    load_avg,
    machine_info,
    median_time,
    run_isolated,
    spread,
    write_json,
)
from pixelnet import ModelConfig, PixelNet, build_model  # noqa: E402
from pixelnet.engine import (
    HelpFormatter,  # noqa: E402
    parse_args,  # noqa: E402
)

MODES = ("sampled", "dense")
HEADS = ("mlp", "linear")
PAPER = {  # Table 3: memory (MB) and updates/s of a 224 x 224 image, taps conv{1_2, 3_3, 5_3}
    "mlp": {"sampled": {"peak_mb": 465, "bps": 24.5}, "dense": {"peak_mb": 3914, "bps": 1.4}},
    "linear": {"sampled": {"peak_mb": 322, "bps": 43.3}, "dense": {"peak_mb": 2267, "bps": 6.5}},
}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Training step: sampled vs dense hypercolumns (Table 3)",
                                formatter_class=HelpFormatter)
    p.add_argument("--config", help="YAML file of option defaults, e.g. configs/bench/train_step_paper_mlp.yaml")
    p.add_argument("--heads", default="mlp,linear", help="comma-separated heads: mlp, linear")
    p.add_argument("--mlp-width", type=int, default=1024, help="MLP hidden width (paper: 4096), two layers")
    p.add_argument("--taps", default="conv1_2,conv3_3,conv5_3", help="comma-separated VGG-16 taps")
    p.add_argument("--size", type=int, default=224, help="square image side")
    p.add_argument("--pixels", type=int, default=2000, help="sampled pixels (sampled mode)")
    p.add_argument("--classes", type=int, default=60, help="outputs K (PASCAL-Context: 59 + background)")
    p.add_argument("--vgg-width", type=float, default=1.0, help="VGG channel multiplier (1 = VGG-16)")
    p.add_argument("--steps", type=int, default=MIN_REPEATS,
                   help=f"measured steps per mode (median and min-max reported; fewer than {MIN_REPEATS} are flagged)")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured steps before the baseline")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: 0, torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one measurement, JSON payload
    return p


def build(cfg: dict[str, Any], device: torch.device) -> PixelNet:
    """The benchmark's VGG-16 PixelNet (random init; fc6/fc7 shrunk since they are not tapped)."""
    names = [f"c{i}" for i in range(cfg["classes"])]
    config = ModelConfig(task="seg", backbone="vgg16", taps=cfg["taps"], head=cfg["head"],
                         mlp_widths=[cfg["mlp_width"]] * 2, class_names=names,
                         backbone_kwargs={"width": cfg["vgg_width"], "fc_channels": 64})
    return build_model(config, pretrained=False).to(device).train()


def dense_logits(model: PixelNet, images: torch.Tensor) -> torch.Tensor:
    """FCN-style: upsample every tap to full resolution, concatenate, head on every pixel.

    Returns:
        ``(B * H * W, K)`` raw outputs.
    """
    feats = model.features(images)  # dict of (B, C_t, h_t, w_t)
    size = images.shape[2:]
    up = [F.interpolate(feats[t.name], size=size, mode="bilinear", align_corners=False) for t in model.taps]
    h = torch.cat(up, dim=1)  # (B, C, H, W)
    h = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])  # (B*H*W, C)
    return model.head(h)


def measure(cfg: dict[str, Any]) -> dict[str, Any]:
    """One head and mode, in this process: updates/s and peak memory above the resident model."""
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    device = torch.device(cfg["device"])
    torch.manual_seed(0)
    model = build(cfg, device)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9,
                          weight_decay=5e-4)
    s, k = cfg["size"], cfg["classes"]
    images = torch.rand(1, 3, s, s, device=device)
    gen = torch.Generator(device="cpu").manual_seed(1)
    labels = torch.randint(k, (s * s,), generator=gen).to(device)

    def step() -> None:
        if cfg["mode"] == "sampled":
            flat = torch.randperm(s * s, generator=gen)[: cfg["pixels"]]
            coords = torch.stack([torch.zeros_like(flat), flat // s, flat % s], 1).to(device)  # (P, 3)
            loss = F.cross_entropy(model(images, coords), labels[flat.to(device)])
        else:
            loss = F.cross_entropy(dense_logits(model, images), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
    for _ in range(cfg["warmup"]):
        step()
    meter = MemoryMeter(device)
    meter.start()
    sec, times = median_time(step, steps=cfg["steps"], warmup=0, sync=sync)
    sp = spread(times)
    return {"bps": 1.0 / sec, "step_s": sec, "step_times_s": [round(t, 4) for t in times],
            "step_s_min": sp["min"], "step_s_max": sp["max"], "bps_min": 1.0 / sp["max"], "bps_max": 1.0 / sp["min"],
            "peak_mb": meter.peak_mb(), "baseline_mb": meter.baseline_mb, "memory_method": meter.method,
            "pixels_per_step": cfg["pixels"] if cfg["mode"] == "sampled" else s * s,
            "hypercolumn_dim": sum(t.channels for t in model.taps),
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return {}
    heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    bad = [h for h in heads if h not in HEADS]
    if bad or not heads:
        raise SystemExit(f"--heads: unknown {bad}; choose from {HEADS}")
    taps = [t.strip() for t in args.taps.split(",") if t.strip()]
    results: dict[str, Any] = {"machine": machine_info(), "load_before": load_avg(), "repeats": args.steps}
    for head in heads:
        cfg = {"head": head, "mlp_width": args.mlp_width, "taps": taps, "size": args.size,
               "pixels": args.pixels, "classes": args.classes, "vgg_width": args.vgg_width,
               "steps": args.steps, "warmup": args.warmup, "threads": args.threads, "device": args.device}
        res: dict[str, Any] = {}
        for mode in MODES:
            print(f"[{head}] {mode} ...", file=sys.stderr, flush=True)
            res[mode] = run_isolated(__file__, {**cfg, "mode": mode})
        res["bps_ratio"] = res["sampled"]["bps"] / res["dense"]["bps"]
        s_, d_ = res["sampled"], res["dense"]  # the ratio's spread: slowest vs fastest and back
        res["bps_ratio_min"] = s_.get("bps_min", s_["bps"]) / d_.get("bps_max", d_["bps"])
        res["bps_ratio_max"] = s_.get("bps_max", s_["bps"]) / d_.get("bps_min", d_["bps"])
        res["mem_ratio"] = res["dense"]["peak_mb"] / max(res["sampled"]["peak_mb"], 1e-6)
        res["config"] = {**cfg, "backbone": "vgg16", "mlp_widths": [args.mlp_width] * 2 if head == "mlp" else None,
                         "batch_images": 1, "trained": "whole network (SGD, momentum 0.9)",
                         "dense_pixels": args.size**2}
        res["paper"] = {**PAPER[head],
                        "bps_ratio": PAPER[head]["sampled"]["bps"] / PAPER[head]["dense"]["bps"],
                        "mem_ratio": PAPER[head]["dense"]["peak_mb"] / PAPER[head]["sampled"]["peak_mb"]}
        results[head] = res
    results["load_after"] = load_avg()
    print(format_table(results, heads))
    if args.json:
        write_json(args.json, results)
    return results


def format_table(results: dict[str, Any], heads: list[str]) -> str:
    """The measured table beside the paper's ratios."""
    m = results["machine"]
    n = results.get("repeats", 0)
    lines = [f"torch {m['torch']}, {m['threads']} threads, {m['cpu']}; load (1, 5, 15 min) before "
             f"{results.get('load_before')}, after {results.get('load_after')}; {n} measured steps per mode"
             + (f" (fewer than {MIN_REPEATS}: do not quote)" if n < MIN_REPEATS else ""),
             f"{'head':<8}{'mode':<9}{'updates/s median (min-max)':>28}{'peak MB':>10}{'step s':>9}",
             "-" * 64]
    for head in heads:
        r = results[head]
        for mode in MODES:
            x = r[mode]
            rng = f"{x['bps']:.3f} ({x.get('bps_min', x['bps']):.3f}-{x.get('bps_max', x['bps']):.3f})"
            lines.append(f"{head:<8}{mode:<9}{rng:>28}{x['peak_mb']:>10.0f}{x['step_s']:>9.2f}")
        p = r["paper"]
        lines.append(f"{head:<8}dense/sampled: {r['bps_ratio']:.1f}x ({r['bps_ratio_min']:.1f}-"
                     f"{r['bps_ratio_max']:.1f}x) faster sampled, {r['mem_ratio']:.1f}x less "
                     f"memory (paper {p['bps_ratio']:.1f}x, {p['mem_ratio']:.1f}x)")
    return "\n".join(lines)


if __name__ == "__main__":
    main(parse_args(get_args_parser()))
