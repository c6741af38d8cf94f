"""Batch prediction: ``python train/predict.py --model DIR [--model DIR ...] --images PATH|GLOB|FOLDER --out OUT``.

Runs the models exactly as the explorer does (the dense :class:`~pixelnet.predictor.Predictor`,
at ``--scales``; models sharing a frozen backbone share its pass) and writes per image and task
the files of :func:`pixelnet.outputs.write_predictions`: seg an index PNG and a colour PNG,
normals an RGB PNG and a float ``.npy``, edges an 8-bit probability PNG and the NMS map. An
unreadable image is reported and skipped; the exit status is 1 if any image failed. ``--model hed``
adds the reference HED edge detector (offline HED-BSDS weights), e.g. beside a PixelNet edges head.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pixelnet.engine.cli import HelpFormatter, UsageError, comma_floats, run_cli
from pixelnet.engine.config import parse_args
from pixelnet.image import ImageError, load_image
from pixelnet.io import load_models, read_model_meta
from pixelnet.outputs import write_predictions
from pixelnet.predictor import Predictor
from pixelnet.reference import REFERENCE_MODELS, load_reference

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--config", help="YAML file of option defaults (command-line flags win)")
    p.add_argument("--model", action="append", default=[], metavar="DIR",
                   help="model folder, or 'hed' for the reference HED edge detector (repeatable)")
    p.add_argument("--images", required=True, metavar="PATH", help="an image, a glob pattern, or a folder")
    p.add_argument("--out", required=True, metavar="OUT", help="output folder")
    p.add_argument("--scales", type=comma_floats, default=[1.0], help="test scales averaged, e.g. 0.5,1,1.5")
    p.add_argument("--max-side", type=int, default=1024, help="longer image side predicted at (larger are resized)")
    p.add_argument("--device", default="auto", help="cpu, cuda, mps or auto")
    return p


def find_images(spec: str) -> list[Path]:
    """The image files named by a path, a glob pattern or a folder (sorted)."""
    path = Path(spec)
    if path.is_dir():
        files = [p for p in sorted(path.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        files = [path]
    else:
        files = [Path(p) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).is_file()]
    if not files:
        raise UsageError(f"--images {spec}: no image files found")
    return files


def main(args: argparse.Namespace) -> int:
    if not args.model:
        raise UsageError("give at least one --model DIR")
    if not args.scales or min(args.scales) <= 0:
        raise UsageError("--scales must be positive numbers")
    files = find_images(args.images)
    # one predictor per group of models with distinct tasks (several models of one task go to
    # several groups, and their files carry the model's name); a reference model (``hed``) has its own
    groups: list[dict[str, str]] = []
    predictors: list[Any] = []
    for m in args.model:
        if m in REFERENCE_MODELS:
            ref = load_reference(m)
            groups.append({ref.task: m})
            predictors.append(ref.predictor(device=args.device, max_side=args.max_side))
            continue
        task = read_model_meta(m)["config"]["task"]
        group = next((g for g, p in zip(groups, predictors) if p is None and task not in g), None)
        if group is None:
            groups.append(group := {})
            predictors.append(None)
        group[task] = m
    repeated = {t for t in {t for g in groups for t in g} if sum(t in g for g in groups) > 1}
    predictors = [p if p is not None else Predictor(load_models(g), device=args.device, max_side=args.max_side)
                  for g, p in zip(groups, predictors)]
    out = Path(args.out)
    failed: list[str] = []
    bar = tqdm(files, desc="predict", unit="img", disable=None)
    for f in bar:
        try:
            image = load_image(f)
        except (ImageError, OSError) as e:
            failed.append(f"{f}: {e}")
            tqdm.write(f"skipped {f}: {e}", file=sys.stderr)
            continue
        for pred, group in zip(predictors, groups):
            preds = pred.predict(image, scales=args.scales)
            for task, y in preds.items():
                names = pred.models[task].config.class_names if task == "seg" else None
                suffix = f".{Path(group[task]).name}" if task in repeated else ""
                write_predictions(out, f.stem, {task: y}, class_names=names, suffix=suffix)
        bar.set_postfix_str(f.name)
    print(f"wrote predictions of {len(files) - len(failed)} of {len(files)} images to {out}"
          + (f"; {len(failed)} failed" if failed else ""))
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(main, parse_args(get_args_parser()), prog="train/predict.py"))
