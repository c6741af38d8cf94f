"""Throughput of batch prediction (``train/predict.py``): one process against ``torchrun`` ranks.

Writes ``--images`` photos (skimage's astronaut, coffee, chelsea... resized to ``--size``, varied
per image), then runs the whole command, process start-up included, in each mode:

- ``1x1``: one process, 1 torch thread;
- ``1x2``: one process, 2 torch threads;
- ``2x1``: ``torchrun --nproc_per_node 2``, 1 thread per process.

Each mode runs ``--reps`` times into a fresh folder; the table gives the median wall time, the
images per second and the speed-up over ``1x1``, and checks that every mode at 1 thread per
process wrote the bytes of ``1x1``.

    python bench/bench_predict.py                       # 32 images of 256 px, default models, 3 reps
    python bench/bench_predict.py --modes 1x1,2x1 --images 64 --json runs/bench/predict.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench._measure import ROOT, load_avg, machine_info, write_json  # noqa: E402
from pixelnet.engine import HelpFormatter  # noqa: E402

MODES = ("1x1", "1x2", "2x1")
"""``PROCESSESxTHREADS``."""

DEFAULT_MODELS = [str(ROOT / "assets" / "models" / t) for t in ("seg", "normals", "edges")]


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="predict.py throughput: 1 process vs torchrun ranks",
                                formatter_class=HelpFormatter)
    p.add_argument("--modes", type=lambda s: s.split(","), default=list(MODES),
                   help="PROCESSESxTHREADS modes, e.g. 1x1,1x2,2x1")
    p.add_argument("--images", type=int, default=32, help="number of photos predicted")
    p.add_argument("--size", type=int, default=256, help="photo side in pixels")
    p.add_argument("--reps", type=int, default=3, help="runs per mode")
    p.add_argument("--model", action="append", default=[], metavar="DIR",
                   help="model folder (repeatable; default: the shipped seg, normals and edges)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    return p


def write_photos(folder: Path, n: int, size: int) -> Path:
    """``n`` photos of ``size`` px (skimage samples, each varied by a seeded noise)."""
    from skimage import data

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.asarray(Image.fromarray(sources[i % len(sources)]).resize((size, size), Image.BILINEAR))
        noise = np.random.default_rng(i).integers(-3, 4, size=img.shape)
        Image.fromarray((img.astype(np.int16) + noise).clip(0, 255).astype(np.uint8)).save(folder / f"p{i:04d}.png")
    return folder


def command(mode: str, images: Path, out: Path, models: list[str]) -> list[str]:
    """The command line of one mode (``PROCESSESxTHREADS``)."""
    procs, threads = (int(x) for x in mode.split("x"))
    predict = [str(ROOT / "train" / "predict.py"), *[a for m in models for a in ("--model", m)],
               "--images", str(images), "--out", str(out), "--device", "cpu", "--threads", str(threads)]
    if procs == 1:
        return [sys.executable, *predict]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), *predict]


def run_mode(mode: str, images: Path, out: Path, models: list[str]) -> float:
    """Wall seconds of one run of ``mode`` writing into ``out`` (which must not exist)."""
    threads = mode.split("x")[1]
    env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    proc = subprocess.run(command(mode, images, out, models), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def main(args: argparse.Namespace) -> dict[str, Any]:
    models = args.model or DEFAULT_MODELS
    result: dict[str, Any] = {"machine": machine_info(), "images": args.images, "size": args.size,
                              "reps": args.reps, "models": [Path(m).name for m in models], "modes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        images = write_photos(Path(tmp) / "images", args.images, args.size)
        reference: dict[str, bytes] | None = None
        for mode in args.modes:
            times = []
            for r in range(args.reps):
                out = Path(tmp) / f"{mode}-{r}"
                times.append(run_mode(mode, images, out, models))
                print(f"  {mode} run {r + 1}: {times[-1]:.1f} s (load {load_avg()})", flush=True)
            files = snapshot(out)
            if mode.endswith("x1"):  # at 1 thread per process the files do not depend on the mode
                reference = reference or files
                same = files == reference
            else:
                same = None
            result["modes"][mode] = {"median_s": round(statistics.median(times), 2), "times_s": [round(t, 2)
                                     for t in times], "identical_to_1x1": same}
    base = result["modes"].get("1x1", {}).get("median_s")
    print(f"\n{'mode':<5} {'median s':>9} {'img/s':>6} {'vs 1x1':>7}  identical to 1x1")
    for mode, r in result["modes"].items():
        r["images_per_s"] = round(args.images / r["median_s"], 2)
        r["speedup_vs_1x1"] = round(base / r["median_s"], 2) if base else None
        print(f"{mode:<5} {r['median_s']:>9} {r['images_per_s']:>6} {r['speedup_vs_1x1'] or '-':>7}  "
              f"{'-' if r['identical_to_1x1'] is None else r['identical_to_1x1']}")
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
