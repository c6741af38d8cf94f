"""Batch prediction: ``python train/predict.py --model DIR [--model DIR ...] --images PATH|GLOB|FOLDER --out OUT``.

Runs the models exactly as the explorer does (the dense :class:`~pixelnet.predictor.Predictor`,
at ``--scales``; models sharing a frozen backbone share its pass) and writes per image and task
the files of :func:`pixelnet.outputs.write_predictions`: seg an index PNG and a colour PNG,
normals an RGB PNG and a float ``.npy``, edges an 8-bit probability PNG and the NMS map. An
unreadable image is reported and skipped; the exit status is 1 if any image failed. ``--model hed``
adds the reference HED edge detector (offline HED-BSDS weights), e.g. beside a PixelNet edges head.

Scale out with ``torchrun --nproc_per_node N train/predict.py ...``: rank r predicts every N-th
image of the sorted list from the r-th, on ``cuda:LOCAL_RANK`` where there are GPUs (else the
CPU), and the files are those of a single process. Every file is written under a temporary name
and renamed into place, so a killed run leaves no half-written file; running the same command
again skips the images whose files are all there (``--overwrite`` predicts everything again).
``OUT/predictions.json`` lists each image, its files and its error, if any.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from pixelnet.engine import (
    HelpFormatter,
    UsageError,
    all_gather_objects,
    cleanup,
    comma_floats,
    init_distributed,
    parse_args,
    run_cli,
    shard,
)
from pixelnet.image import ImageError, load_image
from pixelnet.io import load_models, read_model_meta
from pixelnet.outputs import atomic_path, prediction_names, remove_stale_temporaries, write_predictions
from pixelnet.predictor import Predictor
from pixelnet.teachers import REFERENCE_MODELS
from pixelnet.zoo import load_model_or_reference

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SUMMARY = "predictions.json"
SUMMARY_FORMAT = "pixelnet-predictions/1"


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
    p.add_argument("--device", default="auto",
                   help="cpu, cuda, mps or auto (under torchrun with GPUs: cuda:LOCAL_RANK)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads per process (0: torch's choice; torchrun sets 1)")
    p.add_argument("--overwrite", action="store_true",
                   help="predict every image again, also those whose files are all in OUT")
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
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise UsageError(f"--images {spec}: {stems[f.stem]} and {f} would write the same files ({f.stem}.*)")
        stems[f.stem] = f
    return files


def _model_digest(spec: str) -> str:
    """A short hash of a model folder's files (the reference models: their name)."""
    if spec in REFERENCE_MODELS:
        return spec
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        h.update((Path(spec) / name).read_bytes())
    return h.hexdigest()[:16]


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """What the files depend on: an output folder of other settings is not resumed."""
    return {"models": [{"model": m, "sha256": _model_digest(m)} for m in args.model],
            "scales": list(args.scales), "max_side": args.max_side}


def write_summary(out: Path, settings: dict[str, Any], images: list[dict[str, Any]] | None) -> None:
    """``predictions.json``: the settings and, once the run is over, one entry per image (None: running)."""
    out.mkdir(parents=True, exist_ok=True)
    data = {"format": SUMMARY_FORMAT, "settings": settings, "complete": images is not None, "images": images}
    with atomic_path(out / SUMMARY) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")


def main(args: argparse.Namespace) -> int:
    if not args.model:
        raise UsageError("give at least one --model DIR")
    if not args.scales or min(args.scales) <= 0:
        raise UsageError("--scales must be positive numbers")
    if args.threads < 0:
        raise UsageError("--threads must be 0 (torch's choice) or more")
    files = find_images(args.images)
    out = Path(args.out)
    settings = settings_of(args)
    if (out / SUMMARY).is_file() and not args.overwrite:
        before = json.loads((out / SUMMARY).read_text()).get("settings")
        if before != settings:
            raise UsageError(f"{out} holds predictions of other models or settings ({SUMMARY}); "
                             "give --overwrite to replace them, or another --out")
    if args.threads:
        torch.set_num_threads(args.threads)
    ctx = init_distributed(args.device)
    try:
        return _predict(args, files, out, settings, ctx)
    finally:
        cleanup(ctx)


def _predict(args: argparse.Namespace, files: list[Path], out: Path, settings: dict[str, Any], ctx: Any) -> int:
    # one predictor per group of models with distinct tasks (several models of one task go to
    # several groups, and their files carry the model's name); a reference model (``hed``) has its own
    groups: list[dict[str, str]] = []
    predictors: list[Any] = []
    legends: dict[str, list[str] | None] = {}  # model -> class names of its seg output (None: no legend)
    for m in args.model:
        if m in REFERENCE_MODELS or read_model_meta(m)["config"].get("what"):  # brings its own predictor
            ref = load_model_or_reference(m)
            groups.append({ref.task: m})
            predictors.append(ref.predictor(device=ctx.device, max_side=args.max_side))
            config = getattr(ref, "config", None)  # the dense ImageNet teacher names its categories
            legends[m] = list(config.class_names) if ref.task == "seg" and config is not None else None
            continue
        task = read_model_meta(m)["config"]["task"]
        group = next((g for g, p in zip(groups, predictors) if p is None and task not in g), None)
        if group is None:
            groups.append(group := {})
            predictors.append(None)
        group[task] = m
    repeated = {t for t in {t for g in groups for t in g} if sum(t in g for g in groups) > 1}
    predictors = [p if p is not None else Predictor(load_models(g), device=ctx.device, max_side=args.max_side)
                  for g, p in zip(groups, predictors)]
    for g, p in zip(groups, predictors):
        if "seg" in g and g["seg"] not in legends:
            legends[g["seg"]] = p.models["seg"].config.class_names or None

    def names_of(pred: Any, group: dict[str, str], stem: str) -> dict[str, list[str]]:
        out_names = {}
        for task in group:
            legend = task == "seg" and bool(legends[group[task]])
            suffix = f".{Path(group[task]).name}" if task in repeated else ""
            out_names[task] = prediction_names(stem, task, suffix=suffix, legend=legend)
        return out_names

    mine = shard(files, ctx)  # a pure function of the sorted list: no communication
    expected = {f: [n for p, g in zip(predictors, groups) for ns in names_of(p, g, f.stem).values() for n in ns]
                for f in mine}
    if ctx.is_main:
        write_summary(out, settings, None)  # the settings first: a killed run is resumed only with them
    remove_stale_temporaries(out, {n for ns in expected.values() for n in ns})
    records: list[dict[str, Any]] = []
    bar = tqdm(mine, desc="predict" if not ctx.distributed else f"predict (rank 0 of {ctx.world_size})",
               unit="img", disable=None if ctx.is_main else True)
    for f in bar:
        record = {"image": str(f), "outputs": expected[f], "error": None, "skipped": False}
        records.append(record)
        if not args.overwrite and all((out / n).is_file() for n in expected[f]):
            record["skipped"] = True  # every file is complete: written under a temporary name, then renamed
            continue
        try:
            image = load_image(f)
            for pred, group in zip(predictors, groups):
                preds = pred.predict(image, scales=args.scales)
                for task, y in preds.items():
                    class_names = legends[group[task]] if task == "seg" else None
                    suffix = f".{Path(group[task]).name}" if task in repeated else ""
                    write_predictions(out, f.stem, {task: y}, class_names=class_names, suffix=suffix)
        except (ImageError, OSError, ValueError, RuntimeError) as e:
            record["error"] = str(e) if isinstance(e, ImageError | OSError) else f"{type(e).__name__}: {e}"
            record["outputs"] = []
            tqdm.write(f"failed {f}: {record['error']}", file=sys.stderr)
            continue
        bar.set_postfix_str(f.name)
    bar.close()

    ranks = all_gather_objects(records, ctx)  # the one collective: rank 0 writes the summary
    order = {str(f): i for i, f in enumerate(files)}
    everything = sorted((r for rs in ranks for r in rs), key=lambda r: order[r["image"]])
    failed = [r for r in everything if r["error"]]
    if ctx.is_main:
        write_summary(out, settings, [{k: r[k] for k in ("image", "outputs", "error")} for r in everything])
        skipped = sum(r["skipped"] for r in everything)
        done = len(everything) - len(failed) - skipped
        print(f"wrote predictions of {done} of {len(files)} images to {out}"
              + (f"; skipped {skipped} whose files were all there (--overwrite predicts them again)"
                 if skipped else "")
              + (f"; {len(failed)} failed" if failed else "")
              + (f" ({ctx.world_size} processes)" if ctx.distributed else ""))
        for r in failed:
            print(f"failed: {r['image']}: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(main, parse_args(get_args_parser()), prog="train/predict.py"))
