"""Evaluate a trained model: ``python train/eval.py --model runs/seg --data synth --split test``.

Runs the model exactly as users do (the :class:`~pixelnet.predictor.Predictor`, dense, at
``--scales``) and reports the task's benchmark metrics (see :mod:`pixelnet.evaluation.evaluate`).
Prints a table; ``--json FILE`` writes exactly the metric keys of the task:

- seg: ``pixel_acc``, ``mean_acc``, ``miou`` (fractions), and ``per_class`` (class name ->
  ``iou`` and ``acc``, NaN written as null where a class is in neither prediction nor ground
  truth), also printed as a table; and ``boundary``: the region-boundary precision, recall and
  F-score within ``--boundary-tolerance`` pixels (:mod:`pixelnet.metrics.seg_boundaries`). A
  model of ImageNet categories (``--model imagenet-dense``, the raw dense teacher, or a head
  trained on ``--data real-categories``) is scored on a composites dataset's classes through
  :data:`pixelnet.distill.pseudo_labels.COMPOSITE_CLASS` (dog, cat, ... -> animal; the rest ->
  background); a model whose classes are a subset of the dataset's (``seg_categories``, saved
  before the ``tool`` category, on ``--data real-categories``) is scored by class name;
- normals: ``mean``, ``median``, ``rmse`` (degrees), ``within_11_25``, ``within_22_5``,
  ``within_30`` (percent);
- edges: ``ods``, ``ois``, ``ap`` (BSDS protocol).

On SynthScenes, ``--seed S --limit N`` evaluates the N scenes of the split that start at
position S, so evaluation can always use scenes no model was trained on.

On ``--data middlebury-motorcycle`` (one real photo with ground truth from its disparity,
:mod:`pixelnet.datasets.middlebury`) the table and the JSON also have, under ``baselines``, the
normals statistics of "every pixel faces the camera" and "the best constant normal" (the mean
valid normal), and for edges, under ``boundary``, the occlusion-boundary recall of the top
``--boundary-budget`` x (boundary pixels) thinned edge pixels within ``--boundary-tolerance``
pixels (:func:`pixelnet.metrics.boundary_recall`).

``--data real-photos --data-root CACHE`` scores category segmentations on the held-out labelled
photos of ``train/fetch_data.py`` (:func:`pixelnet.evaluation.evaluate_photos`: category accuracy,
object IoU, boundary F, person IoU; ``--also`` adds models to the same table). With
``--held-out`` it also gives each model's right-class IoU on the explorer's example photos and
matplotlib's Grace Hopper (:data:`HELD_OUT`; never trained on), against the salient-object mask.

``--model imagenet-dense --scales 1,1.5`` evaluates the backbone's ImageNet classifier made dense.
``--model hed`` evaluates the paper's reference edge detector, HED with its HED-BSDS weights
(:mod:`pixelnet.teachers`), on any dataset with edges, e.g. ``--model hed --data bsds500``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from pixelnet.data import DATASETS
from pixelnet.device import pick_device
from pixelnet.distill import PSEUDO_CLASSES, category_class_map
from pixelnet.engine import (
    EVAL_SPLITS,
    HelpFormatter,
    UsageError,
    dataset_class_names,
    open_dataset,
    parse_args,
    run_cli,
)
from pixelnet.evaluation import (
    GEOMETRY_DATASETS,
    BoundaryRecallMeter,
    clothing_regions,
    evaluate,
    evaluate_photos,
    format_metrics,
    normals_baselines,
    right_class_iou,
)
from pixelnet.metrics import SegBoundaryMeter, SegMeter
from pixelnet.progress import Progress
from pixelnet.teachers import REFERENCE_MODELS
from pixelnet.zoo import load_model_or_reference

EVAL_DATASETS = (*DATASETS, "real-photos")
"""``--data`` choices: every dataset of the registry, and ``real-photos`` (the labelled photos scored
without segmentation labels: :func:`pixelnet.evaluation.evaluate_photos`)."""


REPO = Path(__file__).resolve().parents[1]
HELD_OUT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("assets/examples/chelsea.jpg", ("cat",)),
    ("assets/examples/coffee.jpg", ("food", "kitchenware")),  # coffee in a cup
    ("assets/examples/motorcycle.jpg", ("vehicle",)),
    ("assets/examples/rocket.jpg", ("vehicle",)),
    ("assets/examples/astronaut.jpg", ("person",)),
    ("matplotlib:grace_hopper.jpg", ("person",)),
)
"""``--held-out`` photos (relative to the repository, or in matplotlib's sample data) and the
categories that name their main object: issue #25's first yardstick."""


def held_out_photos() -> list[tuple[Path, tuple[str, ...]]]:
    """:data:`HELD_OUT` as files that exist (Grace Hopper only when matplotlib is installed)."""
    out = []
    for name, right in HELD_OUT:
        if name.startswith("matplotlib:"):
            try:
                import matplotlib
            except ImportError:
                continue
            path = Path(matplotlib.get_data_path()) / "sample_data" / name.split(":", 1)[1]
        else:
            path = REPO / name
        if path.is_file():
            out.append((path, right))
    return out


def floats(text: str) -> list[float]:
    """``"0.5,1,1.5"`` -> ``[0.5, 1.0, 1.5]``."""
    return [float(t) for t in str(text).split(",") if t.strip()]


def ints(text: str) -> list[int]:
    """``"256,320"`` -> ``[256, 320]``."""
    return [int(t) for t in str(text).split(",") if t.strip()]


def _per_class(meter: SegMeter, names: list[str]) -> dict[str, dict[str, float | None]]:
    """Class name -> ``{"iou", "acc"}`` (None where undefined), from ``meter``'s confusion matrix."""
    iou, acc = meter.per_class_iou().tolist(), meter.per_class_acc().tolist()
    names = names if len(names) == len(iou) else [str(k) for k in range(len(iou))]
    return {n: {"iou": None if math.isnan(i) else i, "acc": None if math.isnan(a) else a}
            for n, i, a in zip(names, iou, acc)}


def _per_class_table(per_class: dict[str, dict[str, float | None]]) -> str:
    width = max(len(n) for n in per_class)
    lines = [f"  {'class':<{width}}  {'IoU':>8}  {'recall':>8}"]
    for n, v in per_class.items():
        lines.append(f"  {n:<{width}}  " + "  ".join("     n/a" if v[k] is None else f"{100 * v[k]:6.2f} %"
                                                      for k in ("iou", "acc")))
    return "\n".join(lines)


def eval_photos(args: argparse.Namespace) -> int:
    """``--data real-photos``: category accuracy, object IoU, boundary F and person IoU of each model
    on the held-out labelled photos (:func:`pixelnet.evaluation.evaluate_photos`), one table."""
    if not args.data_root:
        raise UsageError("--data real-photos needs --data-root (the train/fetch_data.py cache)")
    split = args.split or "test"
    from pixelnet.distill import TeacherMaps, labelled_photos
    from pixelnet.teachers import CATEGORIES

    n_photos = len(labelled_photos(args.data_root, split)[: args.limit])
    results: dict[str, dict] = {}
    for spec in [args.model, *args.also]:
        model = load_model_or_reference(spec)
        if model.task != "seg":
            raise UsageError(f"{spec} is a {model.task} model; real-photos scores segmentations")
        with Progress(f"eval {spec}", total=n_photos, unit="photo", enabled=not args.quiet) as bar:
            metrics, rows = evaluate_photos(model, args.data_root, split=split, scales=args.scales,
                                            device=args.device, max_side=args.max_side, limit=args.limit,
                                            progress=bar.update, tta=not args.no_tta)
        results[spec] = {**metrics, "photos": rows}
    print(photo_table(results, split, args.scales, tta=not args.no_tta))
    root = Path(args.data_root).expanduser()
    maps = TeacherMaps(root / "teacher_maps", cache=root)
    c = clothing_regions([maps(f) for f, _ in labelled_photos(root, split)[: args.limit]], CATEGORIES)
    print(f"salient regions: {c['regions']}; named clothing by the teacher: {c['clothing']}, of which people "
          f"(person mask over half of it): {c['clothing_person']}; people: {c['person']}, of which named "
          f"clothing: {c['person_clothing']}")
    results["_clothing_regions"] = c
    if args.held_out:
        photos = held_out_photos()
        held: dict[str, dict[str, float]] = {}
        for spec in [args.model, *args.also]:
            model = load_model_or_reference(spec)
            with Progress(f"held-out {spec}", total=len(photos), unit="photo", enabled=not args.quiet) as bar:
                held[spec] = right_class_iou(model, photos, args.data_root, scales=args.scales, device=args.device,
                                             max_side=args.max_side, progress=bar.update, tta=not args.no_tta)
        stems = [p.stem for p, _ in photos]
        print("\nright-class IoU on the held-out example photos (salient mask, 2 px band ignored)\n")
        print("| model | " + " | ".join(stems) + " | mean |")
        print("|---" * (len(stems) + 2) + "|")
        for spec, row in held.items():
            print(f"| {spec} | " + " | ".join(f"{row[s]:.3f}" for s in stems) + f" | {row['mean']:.3f} |")
        results["_held_out"] = held
    if args.no_tta:
        results["_tta"] = False
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def photo_table(results: dict[str, dict], split: str, scales: list[float], *, tta: bool = True) -> str:
    """A markdown table: one row per model."""
    aug = "" if tta else ", without the models' test-time augmentation"
    lines = [f"real photos, split {split}, scales {','.join(f'{s:g}' for s in scales)}{aug}", "",
             "| model | category accuracy | object IoU | boundary F (2 px) | person IoU |", "|---|---|---|---|---|"]
    for spec, m in results.items():
        lines.append(f"| {spec} | {m['category_acc']:.3f} ({m['category_n']}) | {m['object_iou']:.3f} "
                     f"({m['object_n']}) | {m['boundary_f']:.3f} | {m['person_iou']:.3f} ({m['person_n']}) |")
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--config", help="YAML file of option defaults (command-line flags win)")
    p.add_argument("--model", help="model folder (model.safetensors + config.json), e.g. runs/NAME, or a reference "
                   f"model: {', '.join(sorted(REFERENCE_MODELS))} (HED with its HED-BSDS weights; edges)")
    p.add_argument("--data", choices=EVAL_DATASETS, default="synth", help="evaluation dataset")
    p.add_argument("--data-root", help="dataset folder (real datasets)")
    p.add_argument("--normal-signs", type=ints, default=None,
                   help="NYUv2: per-axis signs x,y,z applied to the stored normals, e.g. --normal-signs=-1,1,1, "
                   "when the files' frame differs from ours (x right, y down, z towards the camera)")
    p.add_argument("--split", default=None, help="split evaluated (default: the benchmark split of the dataset)")
    p.add_argument("--scales", type=floats, default=[1.0], help="test scales averaged, e.g. 0.5,1,1.5")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N images (default: all)")
    p.add_argument("--seed", type=int, default=0, help="SynthScenes: first scene of the split")
    p.add_argument("--synth-size", type=ints, default=[256, 256], help="SynthScenes and composites size H,W (or S)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--max-side", type=int, default=1024, help="predictor size limit (results at full size)")
    p.add_argument("--boundary-tolerance", type=float, default=2.0,
                   help="match distance (px) of occlusion boundaries (middlebury, edges) and of seg region boundaries")
    p.add_argument("--boundary-budget", type=float, default=2.0,
                   help="middlebury-motorcycle, edges: thinned edge pixels kept per boundary pixel")
    p.add_argument("--also", nargs="+", default=[], metavar="MODEL",
                   help="real-photos: more models scored in the same run, one table (e.g. imagenet-dense)")
    p.add_argument("--held-out", action="store_true",
                   help="real-photos: also the right-class IoU on the explorer's examples and Grace Hopper")
    p.add_argument("--no-tta", action="store_true",
                   help="run every model at --scales alone, without the test-time augmentation it records "
                        "(tta_scales, tta_mirror in its config.json)")
    p.add_argument("--json", help="write the metrics to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    return p


def main(args: argparse.Namespace) -> int:
    if not args.model:
        raise UsageError("--model is required (a folder with model.safetensors and config.json, or hed)")
    if args.boundary_tolerance < 0 or args.boundary_budget <= 0:
        raise UsageError("--boundary-tolerance must be >= 0 and --boundary-budget > 0")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be >= 1")
    if not args.scales or min(args.scales) <= 0:
        raise UsageError("--scales must be positive numbers")
    if len(args.synth_size) not in (1, 2):
        raise UsageError("--synth-size takes S or H,W")
    pick_device(args.device)  # a device this machine lacks is refused before any work
    if args.data == "real-photos":
        return eval_photos(args)
    model = load_model_or_reference(args.model)
    task = model.task
    class_map = None
    if task == "seg":
        classes = dataset_class_names(args.data, args.data_root)
        model_classes = list(model.config.class_names or [])
        if model_classes != classes:
            # by name (e.g. seg_categories, saved before `tool`, on real-categories), or categories
            # scored on a composites-like dataset's classes
            if not (set(model_classes) <= set(classes)
                    or (set(model_classes) <= set(PSEUDO_CLASSES) and "background" in classes)):
                raise UsageError(f"the model's {len(model_classes)} classes are not the "
                                 f"{len(classes)} classes of dataset {args.data!r}")
            try:
                class_map = category_class_map(model_classes, classes)
            except ValueError as e:
                raise UsageError(str(e)) from e
    size = (args.synth_size[0], args.synth_size[-1])
    split = args.split or EVAL_SPLITS[args.data]
    synth = args.data in ("synth", "synth-real")
    dataset = open_dataset(args.data, task=task, split=split, root=args.data_root, purpose="eval",
                           synth_size=size, length=args.limit if synth else None,
                           seed_offset=args.seed if synth else 0, normal_signs=args.normal_signs)
    total = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    where = f"{args.data}/{split}" + (f" from scene {args.seed}" if synth else "")
    with Progress(f"eval {task}", total=total, unit="image", enabled=not args.quiet) as bar:
        bar.message(f"evaluating {task} on {total} images of {where}"
                    + (" (edges: the BSDS matching takes seconds per image)" if task == "edges" else ""))
        boundary = (BoundaryRecallMeter(tolerance=args.boundary_tolerance, budget=args.boundary_budget)
                    if task == "edges" and args.data in GEOMETRY_DATASETS else None)
        per_class = SegMeter(len(classes)) if task == "seg" else None
        seg_boundary = SegBoundaryMeter(tolerance=args.boundary_tolerance) if task == "seg" else None

        def on_prediction(sample: dict, pred: Any) -> None:
            if boundary is not None:
                boundary.update(sample, pred)
            if seg_boundary is not None:
                label = pred.argmax(0) if class_map is None else class_map[pred.argmax(0)]
                seg_boundary.update(label, sample["seg"])

        metrics: dict = evaluate(model, dataset, scales=args.scales, limit=total, device=args.device,
                                 max_side=args.max_side, progress=bar, on_prediction=on_prediction,
                                 meter=per_class, class_map=class_map, tta=not args.no_tta)
    aug = ", without its test-time augmentation" if args.no_tta else ""
    print(format_metrics(task, metrics, title=f"{task} model {args.model} on {where}: {total} images, "
                                              f"scales {','.join(f'{s:g}' for s in args.scales)}{aug}"))
    if per_class is not None:
        metrics["per_class"] = _per_class(per_class, classes)
        print(_per_class_table(metrics["per_class"]))
    if seg_boundary is not None:
        metrics["boundary"] = seg_boundary.compute()
        b = metrics["boundary"]
        print(f"region boundaries within {args.boundary_tolerance:g} px: F {b['boundary_f']:.4f} "
              f"(precision {b['boundary_precision']:.4f}, recall {b['boundary_recall']:.4f})")
    if task == "normals" and args.data in GEOMETRY_DATASETS:
        metrics["baselines"] = normals_baselines(dataset, limit=total)
        for name, values in metrics["baselines"].items():
            print(format_metrics(task, values, title=f"baseline {name}" + (
                f" n = ({values['x']:.3f}, {values['y']:.3f}, {values['z']:.3f})" if "x" in values else "")))
    if boundary is not None:
        metrics["boundary"] = boundary.compute()
        b = metrics["boundary"]
        print(f"occlusion boundaries: recall {b['boundary_recall']:.4f}, precision {b['boundary_precision']:.4f} "
              f"(top {b['budget']:g} x boundary pixels of the thinned map, within {b['tolerance']:g} px)")
    if args.no_tta:
        metrics["tta"] = False
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(metrics, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, parse_args(get_args_parser()), prog="train/eval.py"))
