"""Benchmark SynthScenes rendering speed; optionally write the gallery, demo examples and class statistics.

Examples::

    python bench/bench_synthscenes.py                       # scenes/second at 256x256
    python bench/bench_synthscenes.py --json runs/bench_synth.json --class-stats 200
    python bench/bench_synthscenes.py --scenes 0 --gallery docs/gallery.png --examples assets/examples
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixelnet.engine import HelpFormatter
from pixelnet.synth import SYNTH_CLASSES, SYNTH_SPLITS, gallery, render_scene, save_example

GALLERY_SEEDS = (2_000_001, 2_000_004, 2_000_007, 2_000_012)  # from the test split
EXAMPLE_SEEDS = (2_000_002, 2_000_005, 2_000_009)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"), help="scene size")
    parser.add_argument("--scenes", type=int, default=20, help="scenes per timed run (0 skips the benchmark)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported")
    parser.add_argument("--no-noise", action="store_true", help="render without sensor noise")
    parser.add_argument("--no-blur", action="store_true", help="render without blur")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--class-stats", type=int, default=0, metavar="N",
                        help="also report class pixel frequencies over the first N train scenes (at 128x128; 0: skip)")
    parser.add_argument("--gallery", type=Path, default=None, help="write the gallery PNG here")
    parser.add_argument("--examples", type=Path, default=None, help="write demo example PNG/NPZ files here")
    return parser


def benchmark(size: tuple[int, int], scenes: int, runs: int, *, noise: bool, blur: bool) -> dict[str, float]:
    """Time ``runs`` runs of ``scenes`` renders each (train seeds, after one warm-up render).

    Returns:
        median scenes/second over runs by wall-clock and by process CPU time.
    """
    render_scene(SYNTH_SPLITS["train"][0], size, noise=noise, blur=blur)
    wall, cpu = [], []
    for run in range(runs):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        for i in range(scenes):
            render_scene(SYNTH_SPLITS["train"][run * scenes + i], size, noise=noise, blur=blur)
        wall.append(scenes / (time.perf_counter() - start_wall))
        cpu.append(scenes / (time.process_time() - start_cpu))
    return {"scenes_per_s": statistics.median(wall), "scenes_per_s_cpu": statistics.median(cpu),
            "ms_per_scene": 1000 / statistics.median(wall)}


def class_frequencies(count: int, size: tuple[int, int] = (128, 128)) -> dict[str, float]:
    """Fraction of pixels of each class over the first ``count`` train scenes."""
    counts = np.zeros(len(SYNTH_CLASSES), dtype=np.int64)
    for seed in SYNTH_SPLITS["train"][:count]:
        counts += np.bincount(render_scene(seed, size)["seg"].ravel(), minlength=len(SYNTH_CLASSES))
    return {name: float(c / counts.sum()) for name, c in zip(SYNTH_CLASSES, counts)}


def main(args: argparse.Namespace) -> dict:
    size = tuple(args.size)
    noise, blur = not args.no_noise, not args.no_blur
    results: dict = {"size": list(size), "noise": noise, "blur": blur}
    if args.scenes > 0:
        results.update(benchmark(size, args.scenes, args.runs, noise=noise, blur=blur))
        print(f"{'size':>10} | {'scenes/s':>9} | {'ms/scene':>9} | {'scenes/s (cpu)':>14}")
        print(f"{size[0]:>4} x {size[1]:<3} | {results['scenes_per_s']:9.1f} | "
              f"{results['ms_per_scene']:9.1f} | {results['scenes_per_s_cpu']:14.1f}")
    if args.class_stats > 0:
        results["class_frequencies"] = class_frequencies(args.class_stats)
        results["class_stats_scenes"] = args.class_stats
        print(f"\nclass pixel frequencies over {args.class_stats} train scenes:")
        for name, freq in results["class_frequencies"].items():
            print(f"  {name:>10}: {100 * freq:5.1f} %")
    if args.gallery is not None:
        args.gallery.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(gallery(list(GALLERY_SEEDS))).save(args.gallery, optimize=True)
        print(f"wrote {args.gallery}")
    if args.examples is not None:
        for seed in EXAMPLE_SEEDS:
            print("wrote", *save_example(seed, args.examples))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(get_args_parser().parse_args())
