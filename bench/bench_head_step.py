"""Training step of a frozen-backbone head: the first layer per tap vs on whole hypercolumns.

The shipped recipes train only the head over a frozen ImageNet EfficientNet-Lite0: 5 images of
160 x 160 and 10,000 sampled pixels per step, an MLP 128-64. Two ways to compute the same
outputs (``tests/test_model.py`` checks they agree, gradients included):

- ``per_tap`` (:meth:`pixelnet.PixelNet.head_at`, what training uses): the first linear
  layer is applied tap by tap; a tap with fewer cells than sampled pixels is projected to the
  layer's outputs before it is interpolated;
- ``hypercolumn``: every tap is interpolated at the pixels, concatenated, and the head runs on
  the ``(P, C)`` hypercolumns (``head(sample_hypercolumns(...))``, the textbook order).

For each tap set (``--tap-sets``; the default adds Lite0's 1,280-channel ``head`` tap to the
shipped five) and mode, in its own process: the median step time over ``--steps`` after a
warm-up (backbone forward without gradients, head forward, cross-entropy, backward, SGD step).
The backbone is randomly initialised: the cost does not depend on its weights.

    python bench/bench_head_step.py --json runs/bench/head_step.json
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

from bench._measure import MIN_REPEATS, load_avg, machine_info, median_time, run_isolated, spread, write_json  # noqa: E402
from pixelnet import ModelConfig, build_model  # noqa: E402
from pixelnet.engine import (
    HelpFormatter,  # noqa: E402
    parse_args,  # noqa: E402
)
from pixelnet.hypercolumn import sample_hypercolumns  # noqa: E402

MODES = ("per_tap", "hypercolumn")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Frozen-backbone head step: first layer per tap vs on hypercolumns",
                                formatter_class=HelpFormatter)
    p.add_argument("--tap-sets", default="s2,s4,s8,s16,s32;s2,s4,s8,s16,s32,head",
                   help="semicolon-separated comma lists of Lite0 taps")
    p.add_argument("--mlp-width", default="128,64", help="MLP hidden widths")
    p.add_argument("--images", type=int, default=5, help="images per step")
    p.add_argument("--size", type=int, default=160, help="square crop side")
    p.add_argument("--pixels", type=int, default=2000, help="sampled pixels per image")
    p.add_argument("--classes", type=int, default=8, help="outputs K")
    p.add_argument("--steps", type=int, default=MIN_REPEATS * 2,
                   help=f"measured steps per mode (fewer than {MIN_REPEATS} are flagged)")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured steps first")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the recipes train on 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one measurement, JSON payload
    return p


def measure(cfg: dict[str, Any]) -> dict[str, Any]:
    """One tap set and mode, in this process: the step time."""
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    device = torch.device(cfg["device"])
    torch.manual_seed(0)
    config = ModelConfig(task="seg", backbone="efficientnet_lite0", taps=cfg["taps"], mlp_widths=cfg["mlp_widths"],
                         dropout=0.0, class_names=[f"c{k}" for k in range(cfg["classes"])])
    model = build_model(config, pretrained=False).to(device)
    model.backbone.eval().requires_grad_(False)
    model.head.train()
    opt = torch.optim.SGD(model.head.parameters(), lr=1e-2, momentum=0.9, weight_decay=5e-4)
    b, s, n = cfg["images"], cfg["size"], cfg["pixels"]
    images = torch.rand(b, 3, s, s, device=device)
    gen = torch.Generator().manual_seed(1)

    def step() -> None:
        coords = torch.stack([torch.arange(b).repeat_interleave(n), torch.randint(s, (b * n,), generator=gen),
                              torch.randint(s, (b * n,), generator=gen)], 1).to(device)
        labels = torch.randint(cfg["classes"], (b * n,), generator=gen).to(device)
        with torch.no_grad():
            feats = model.features(images)
        if cfg["mode"] == "per_tap":
            out = model.head_at(feats, coords)
        else:
            out = model.head(sample_hypercolumns(feats, model.taps, coords))
        loss = F.cross_entropy(out, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
    for _ in range(cfg["warmup"]):
        step()
    sec, times = median_time(step, steps=cfg["steps"], warmup=0, sync=sync)
    sp = spread(times)
    return {"step_s": sec, "step_s_min": sp["min"], "step_s_max": sp["max"],
            "hypercolumn_dim": sum(t.channels for t in model.taps)}


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return {}
    sets = [[t.strip() for t in part.split(",") if t.strip()] for part in args.tap_sets.split(";") if part.strip()]
    if not sets or any(not s for s in sets):
        raise SystemExit("--tap-sets: give comma lists of taps separated by ';'")
    widths = [int(w) for w in args.mlp_width.split(",") if w.strip()]
    results: dict[str, Any] = {"machine": machine_info(), "load_before": load_avg(), "repeats": args.steps,
                               "rows": []}
    for taps in sets:
        cfg = {"taps": taps, "mlp_widths": widths, "images": args.images, "size": args.size, "pixels": args.pixels,
               "classes": args.classes, "steps": args.steps, "warmup": args.warmup, "threads": args.threads,
               "device": args.device}
        row: dict[str, Any] = {"taps": taps}
        for mode in MODES:
            print(f"[{','.join(taps)}] {mode} ...", file=sys.stderr, flush=True)
            row[mode] = run_isolated(__file__, {**cfg, "mode": mode})
        row["speedup"] = row["hypercolumn"]["step_s"] / row["per_tap"]["step_s"]
        results["rows"].append(row)
    results["load_after"] = load_avg()
    print(format_table(results))
    if args.json:
        write_json(args.json, results)
    return results


def format_table(results: dict[str, Any]) -> str:
    m, n = results["machine"], results.get("repeats", 0)
    lines = [f"torch {m['torch']}, {m['cpu']}; load before {results.get('load_before')}, after "
             f"{results.get('load_after')}; {n} measured steps per mode"
             + (f" (fewer than {MIN_REPEATS}: do not quote)" if n < MIN_REPEATS else ""),
             f"{'taps':<28}{'C':>6}{'per_tap s (min-max)':>24}{'hypercolumn s (min-max)':>26}{'speed-up':>10}"]
    for r in results["rows"]:
        a, b = r["per_tap"], r["hypercolumn"]
        lines.append(f"{','.join(r['taps']):<28}{a['hypercolumn_dim']:>6}"
                     f"{a['step_s']:>9.3f} ({a['step_s_min']:.3f}-{a['step_s_max']:.3f})"
                     f"{b['step_s']:>11.3f} ({b['step_s_min']:.3f}-{b['step_s_max']:.3f}){r['speedup']:>9.1f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    main(parse_args(get_args_parser()))
