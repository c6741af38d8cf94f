"""Reproduce the direction of PixelNet's analysis findings on SynthScenes, on a CPU, in one command.

    python train/experiments.py                     # all findings, about 30 min on 2 busy cores
    python train/experiments.py --only T2,T15       # a selection
    python train/experiments.py --quick             # seconds: the mechanics only (smoke test)

Findings (Bansal et al. 2017):

- T1 (Table 1): all pixels vs a random 4% per image, same 5 images per batch -> similar accuracy;
- T2 (Table 2): linear (no BN) vs linear (BN) vs MLP over the hypercolumn -> MLP best;
- T3 (Table 3): on-demand sampling vs dense hypercolumns, training-step speed and memory: read
  from ``bench/bench_train_step.py``'s JSON (``--t3-json``), or measured small when absent;
- T4/T11 (Tables 4, 11): a fixed pixel budget per batch from 1 image vs from 5 images -> more
  images learn faster and better;
- T15 (Table 15): edges with uniform vs biased (25/50/75% positives) sampling -> biased has the
  better ODS.

Every run uses the library's own training engine (:func:`pixelnet.engine.fit` driving a
:class:`pixelnet.engine.Trainer`) and evaluation (:func:`pixelnet.evaluation.evaluate`, the dense
path through the predictor), with fixed seeds. The CPU-sized settings (stated in RESULTS.md):
64 x 64 SynthScenes (200 training scenes), a frozen ImageNet ``efficientnet_lite0`` with taps ``s2..s32`` (the
1280-channel ``head`` tap is left out to keep the all-pixels run affordable), MLP 2 x 128,
SGD with the paper's momentum/weight decay, lr 1e-3 and a 10x head learning rate.

Outputs in ``--out`` (default ``runs/experiments``): ``RESULTS.md`` (one table per finding, the
paper's numbers beside ours), ``results.json``, ``curves_T*.png`` (validation metric and
training loss against steps) and one run folder per variant (the engine's logs and model).
``--only`` adds to the findings already in ``--out`` when they were run with the same settings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the repository root, located once: train/ modules import each other as train.X

from pixelnet.engine import ConfigError, HelpFormatter  # noqa: E402
from pixelnet.machine import machine_info  # noqa: E402
from pixelnet.progress import Progress  # noqa: E402
from train.experiments_lab import METRIC, QUICK, Lab, Settings, load_settings  # noqa: E402

FINDINGS = ("T1", "T2", "T3", "T4", "T15")
VARIANTS = {"T1": 2, "T2": 3, "T3": 1, "T4": 2, "T15": 4}  # runs per finding (overall progress)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="PixelNet's analysis findings (Tables 1-4, 11, 15) on SynthScenes",
                                formatter_class=HelpFormatter)
    p.add_argument("--only", default=",".join(FINDINGS), help=f"comma-separated findings from {FINDINGS}")
    p.add_argument("--out", default=str(ROOT / "runs" / "experiments"), help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny settings (seconds; checks the mechanics only)")
    p.add_argument("--settings", metavar="YAML",
                   help="experiment settings file, e.g. configs/experiments/findings.yaml (after --quick; "
                   "unknown fields are refused)")
    p.add_argument("--t3-json", default=str(ROOT / "runs" / "bench" / "train_step.json"),
                   help="bench/bench_train_step.py JSON for T3 (measured small when absent)")
    p.add_argument("--iters", type=int, default=None, help="steps of the T2/T4/T15 runs (default: 100; 2 with --quick)")
    p.add_argument("--seed", type=int, default=None, help="seed of every run (default: 0, or the settings file's)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: 0, torch's choice)")
    return p


def parse_only(text: str) -> list[str]:
    chosen = [t.strip().upper() for t in text.split(",") if t.strip()]
    chosen = ["T4" if t == "T11" else t for t in chosen]
    bad = [t for t in chosen if t not in FINDINGS]
    if bad or not chosen:
        raise SystemExit(f"--only: unknown {bad}; choose from {FINDINGS} (T11 = T4)")
    return [t for t in FINDINGS if t in chosen]


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else 0.0


def plot_curves(runs: list[dict[str, Any]], path: Path, title: str) -> None:
    """Validation metric and training loss against steps, one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for r in runs:
        label, scale = METRIC[r["task"]][1:]
        if r["curve"]:
            s, v = zip(*r["curve"])
            a.plot(s, [scale * x for x in v], marker="o", label=r["name"])
        a.set_ylabel(f"validation {label}")
        if r["loss"]:
            s, v = zip(*r["loss"])
            k = max(1, len(v) // 20)  # moving average over ~5% of the run
            sm = np.convolve(v, np.ones(k) / k, mode="valid")
            b.plot(s[k - 1:], sm, label=r["name"])
    a.set_xlabel("step")
    b.set_xlabel("step")
    b.set_ylabel("training loss (smoothed)")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _verdict(ok: bool) -> str:
    return "agrees" if ok else "**does not agree**"


def t1(lab: Lab) -> dict[str, Any]:
    st = lab.st
    n = st.size * st.size
    frac = max(1, round(0.04 * n))
    runs = [lab.run("T1_all_pixels", "seg", sampler="all", iters=st.iters_t1),
            lab.run("T1_random_4pct", "seg", pixels=frac, iters=st.iters_t1)]
    a, b = (100 * r["final"] for r in runs)
    ok = abs(a - b) <= max(2.0, 0.1 * max(a, b))
    rows = [("All pixels", "44.4", f"{a:.1f}", f"{n} x {st.images}"),
            ("Random 4% pixels", "44.6", f"{b:.1f}", f"{frac} x {st.images}")]
    text = ("| Method | paper IoU (V) | ours mIoU | pixels x images per step |\n|---|---|---|---|\n"
            + "\n".join(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows)
            + f"\n\nSame {st.iters_t1} steps of 5 images each. Paper: 4% learns as well as all pixels "
              f"(44.6 vs 44.4). Ours: {b:.1f} vs {a:.1f}, difference {b - a:+.1f} points; direction "
              f"{_verdict(ok)} (criterion: within 2 points or 10%).")
    return {"runs": runs, "agrees": ok, "text": text, "title": "T1 (Table 1): all pixels vs random 4%"}


def t2(lab: Lab) -> dict[str, Any]:
    runs = [lab.run("T2_linear_no_bn", "seg", head="linear"),
            lab.run("T2_linear_bn", "seg", head="linear", linear_bn=True),
            lab.run("T2_mlp", "seg", head="mlp")]
    v = [100 * r["final"] for r in runs]
    ok = v[2] > max(v[0], v[1])
    paper = ("3.6", "62.4", "67.4")
    names = ("Linear (no bn)", "Linear (bn)", "MLP")
    text = ("| Method | paper IoU (T) | ours mIoU | note |\n|---|---|---|---|\n"
            + "\n".join(f"| {n} | {p} | {x:.1f} | {r['note']} |" for n, p, x, r in zip(names, paper, v, runs))
            + f"\n\nPaper: MLP > linear (bn) >> linear (no bn). Ours: MLP {v[2]:.1f}, linear bn {v[1]:.1f}, "
              f"linear no bn {v[0]:.1f}; MLP best: {_verdict(ok)}. BN helps the linear model: "
              f"{_verdict(v[1] > v[0])}.")
    return {"runs": runs, "agrees": ok, "text": text, "title": "T2 (Table 2): linear vs MLP"}


def t4(lab: Lab) -> dict[str, Any]:
    st = lab.st
    budget = st.pixels * st.images
    runs = [lab.run("T4_1_image", "seg", images=1, pixels=budget),
            lab.run("T4_5_images", "seg", images=st.images, pixels=st.pixels)]
    one, five = (100 * r["final"] for r in runs)
    # "learns faster": area under the validation curve (mean over the evaluations)
    auc = [100 * _mean([v for _, v in r["curve"]]) for r in runs]
    ok = five > one
    text = ("| Method | paper IoU (V), T4 / T11 | ours mIoU (final) | ours mean over the curve |\n"
            "|---|---|---|---|\n"
            f"| {budget} px x 1 image | 7.9 (1 x 40,000, 10K it.) / 24.6 (2,000 x 1) | {one:.1f} | {auc[0]:.1f} |\n"
            f"| {st.pixels} px x {st.images} images | 38.4 (5 x 2,000) / 34.8 (500 x 5) | {five:.1f} | {auc[1]:.1f} |"
            f"\n\nSame pixel budget ({budget}) per step and the same {st.iters} steps. Paper: more images "
            f"win. Ours: {five:.1f} vs {one:.1f}; direction {_verdict(ok)}; faster along the curve: "
            f"{_verdict(auc[1] > auc[0])}.")
    return {"runs": runs, "agrees": ok, "text": text, "title": "T4/T11: fixed pixel budget, 1 vs 5 images"}


def t15(lab: Lab) -> dict[str, Any]:
    runs = [lab.run("T15_uniform", "edges", sampler="uniform")]
    for frac in (0.25, 0.5, 0.75):
        runs.append(lab.run(f"T15_biased_{int(100 * frac)}", "edges", sampler="biased", pos_fraction=frac))
    v = [r["final"] for r in runs]
    ok = min(v[1:]) > v[0]
    paper = (".767", ".792", ".791", ".790")
    names = ("Uniform", "Biased 25%", "Biased 50%", "Biased 75%")
    text = ("| Sampling | paper ODS (BSDS) | ours ODS |\n|---|---|---|\n"
            + "\n".join(f"| {n} | {p} | {x:.3f} |" for n, p, x in zip(names, paper, v))
            + f"\n\nPaper: every biased ratio beats uniform. Ours: uniform {v[0]:.3f}, biased "
              f"{', '.join(f'{x:.3f}' for x in v[1:])}; direction {_verdict(ok)} "
              f"(best biased beats uniform: {_verdict(max(v[1:]) > v[0])}).")
    return {"runs": runs, "agrees": ok, "text": text, "title": "T15: edges, uniform vs biased sampling"}


def t3(args: argparse.Namespace, out: Path, quick: bool) -> dict[str, Any]:
    path = Path(args.t3_json)
    source = f"`{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`"
    if not path.exists():
        small = ["--vgg-width", "0.125", "--size", "32", "--pixels", "50", "--mlp-width", "16", "--steps", "1",
                 "--heads", "mlp"] if quick else ["--vgg-width", "0.5", "--size", "224", "--mlp-width", "512",
                                                   "--steps", "2"]
        path = out / "bench_train_step.json"
        # a script of bench/, run as one (train/ imports nothing from bench/)
        subprocess.run([sys.executable, str(ROOT / "bench" / "bench_train_step.py"), *small, "--json", str(path)],
                       check=True)
        source = f"measured now, small: `bench/bench_train_step.py {' '.join(small)}`"
    data = json.loads(path.read_text())
    rows, oks = [], []
    for head in ("mlp", "linear"):
        if head not in data:
            continue
        r = data[head]
        p = r["paper"]
        ok = r["bps_ratio"] > 1 and r["mem_ratio"] > 1
        oks.append(ok)
        width = f" {r['config']['mlp_width']}" if head == "mlp" else ""
        rows.append(f"| {head}{width} | {p['bps_ratio']:.1f}x | {r['bps_ratio']:.1f}x | {p['mem_ratio']:.1f}x | "
                    f"{r['mem_ratio']:.1f}x | {r['sampled']['bps']:.2f} / {r['dense']['bps']:.2f} | "
                    f"{r['sampled']['peak_mb']:.0f} / {r['dense']['peak_mb']:.0f} | {_verdict(ok)} |")
    m = data["machine"]
    text = ("| head | paper speed-up | ours | paper memory saving | ours | ours updates/s sampled / dense "
            "| ours peak MB sampled / dense | direction |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            + f"\n\nSource: {source} (torch {m['torch']}, {m['threads']} threads, {m['cpu']}, load "
              f"{m['load_avg_1_5_15']}). The paper's speed-up is on a GPU with a 4096-wide MLP; on a CPU the "
              "VGG-16 backbone's forward/backward is a larger share of a sampled step, so the ratio is smaller.")
    return {"runs": [], "agrees": all(oks) and bool(oks), "text": text,
            "title": "T3 (Table 3): training step, sampled vs dense"}


def main(args: argparse.Namespace) -> dict[str, Any]:
    only = parse_only(args.only)
    if args.threads:
        torch.set_num_threads(args.threads)
    st = Settings(**(QUICK if args.quick else {}))
    if args.settings:
        try:
            st = load_settings(args.settings, st)
        except ConfigError as e:
            raise SystemExit(f"--settings: {e}") from e
    if args.seed is not None:
        st.seed = args.seed
    if args.iters:
        st.iters = args.iters
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    overall = Progress("experiments", total=sum(VARIANTS[f] for f in only), unit="variant", every_s=0.0)
    lab = Lab(st, out, overall) if set(only) - {"T3"} else None
    results: dict[str, Any] = {}
    for f in only:
        overall.message(f"== {f} ({VARIANTS[f]} run{'s' if VARIANTS[f] > 1 else ''})")
        t = time.perf_counter()
        if f == "T3":
            results[f] = t3(args, out, args.quick)
            overall.update(1, note="last: T3")
        else:
            assert lab is not None
            results[f] = {"T1": t1, "T2": t2, "T4": t4, "T15": t15}[f](lab)
            plot_curves(results[f]["runs"], out / f"curves_{f}.png", results[f]["title"])
        results[f]["seconds"] = time.perf_counter() - t
    overall.close()
    total = time.perf_counter() - t0
    write_results(out, st, results, total, args)
    print(f"done in {total / 60:.1f} min: {out / 'RESULTS.md'}", flush=True)
    return results


def write_results(out: Path, st: Settings, results: dict[str, Any], total: float, args: argparse.Namespace) -> None:
    m = machine_info()
    kept = earlier_results(out, st, exclude=results)
    ran = list(results)
    results = {f: ({**kept, **results})[f] for f in FINDINGS if f in kept or f in results}
    lines = ["# PixelNet's analysis findings on SynthScenes", "",
             f"Command: `python train/experiments.py {'--quick ' if args.quick else ''}"
             f"{f'--settings {args.settings} ' if args.settings else ''}--only {','.join(ran)}` "
             f"({total / 60:.1f} min; torch {m['torch']}, {m['threads']} threads, {m['cpu']}, load average "
             f"{m['load_avg_1_5_15']} at the end)."
             + (f" Kept from an earlier run in this folder with the same settings: {', '.join(kept)}." if kept else ""),
             "",
             "Settings: " + ", ".join(f"{k}={v}" for k, v in asdict(st).items()) + ". Frozen backbone, the head "
             "trained with the engine (SGD momentum 0.9, weight decay 5e-4), uniform sampling unless stated; "
             "metrics on SynthScenes `val` through the dense predictor (seg: mIoU over the dataset's confusion "
             f"matrix; edges: ODS with {st.edge_thresholds} thresholds). One seed per variant: differences of a "
             "point or two are within run-to-run noise.", "",
             "| finding | direction |", "|---|---|"]
    lines += [f"| {f} {results[f]['title'].split(':', 1)[1].strip()} | {_verdict(results[f]['agrees'])} |"
              for f in results]
    for f, r in results.items():
        lines += ["", f"## {r['title']}", "", r["text"]]
        if r["runs"]:
            lines += ["", f"![{f} curves](curves_{f}.png)", "",
                      "Run seconds: " + ", ".join(f"{x['name']} {x['seconds']:.0f}" for x in r["runs"]) + "."]
    (out / "RESULTS.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps({"settings": asdict(st), "machine": m, "results": results,
                                                  "minutes": total / 60}, indent=1) + "\n")


def earlier_results(out: Path, st: Settings, exclude: Mapping[str, Any]) -> dict[str, Any]:
    """Findings of an earlier run in ``out`` (its ``results.json``) with the same settings, so that
    ``--only`` adds to RESULTS.md instead of replacing it; none if the settings differ."""
    path = out / "results.json"
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if old.get("settings") != json.loads(json.dumps(asdict(st))):
        return {}
    return {f: r for f, r in old.get("results", {}).items() if f in FINDINGS and f not in exclude and "text" in r}


if __name__ == "__main__":
    main(get_args_parser().parse_args())
