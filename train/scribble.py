"""Train a segmentation head from strokes: ``python train/scribble.py --image IMG --labels LABELS.png --out DIR``.

``LABELS.png`` is an 8-bit index PNG of the image's size: 0 = unlabelled, k = class k (1..K).
Give ``--image/--labels`` several times, or ``--pairs FOLDER`` holding ``NAME.<ext>`` images with
``NAME.labels.png`` beside them, to train one head from many images. The backbone is frozen (the
registry's pretrained weights) and only the head is stored, so ``DIR`` loads everywhere with
``--model DIR``: the explorer, ``train/eval.py`` and ``train/predict.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pixelnet.backbones import BACKBONES
from pixelnet.engine import (
    HelpFormatter,
    UsageError,
    comma_ints,
    comma_names,
    parse_args,
    run_cli,
    write_resolved_config,
)
from pixelnet.image import ImageError, load_image
from pixelnet.io import save_model
from pixelnet.outputs import read_label_png
from pixelnet.teach import MAX_CLASSES, ScribbleError, fit_scribbles

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--config", help="YAML file of option defaults (command-line flags win)")
    p.add_argument("--image", action="append", default=[], metavar="IMG", help="an image (repeatable)")
    p.add_argument("--labels", action="append", default=[], metavar="PNG",
                   help="its label PNG, in the same order as --image (repeatable)")
    p.add_argument("--pairs", metavar="FOLDER", help="a folder of NAME.<ext> images with NAME.labels.png beside them")
    p.add_argument("--classes", type=comma_names, default=None,
                   help="class names a,b,c for label values 1,2,3 (default: class1, class2, ... to the largest label)")
    p.add_argument("--out", required=True, metavar="DIR", help="model folder to write")
    p.add_argument("--backbone", choices=sorted(BACKBONES), default="efficientnet_lite0",
                   help="frozen backbone, with its registry weights")
    p.add_argument("--taps", type=comma_names, default=None, help="tap names (default: all taps of the backbone)")
    p.add_argument("--mlp-width", type=comma_ints, default=[128, 64], help="hidden widths of the MLP head")
    p.add_argument("--steps", type=int, default=60, help="SGD steps")
    p.add_argument("--pixels", type=int, default=1000, help="pixels sampled per image and step (stratified)")
    p.add_argument("--lr", type=float, default=0.01, help="head learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed of the head initialisation and the pixel sampler")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    return p


def collect_pairs(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """The (image, labels) file pairs of ``--image/--labels`` and ``--pairs``."""
    if len(args.image) != len(args.labels):
        raise UsageError(f"give one --labels per --image ({len(args.image)} images, {len(args.labels)} label files)")
    pairs = [(Path(i), Path(lab)) for i, lab in zip(args.image, args.labels)]
    if args.pairs:
        folder = Path(args.pairs)
        if not folder.is_dir():
            raise UsageError(f"--pairs {folder} is not a folder")
        for img in sorted(folder.iterdir()):
            if img.suffix.lower() in IMAGE_SUFFIXES and not img.name.endswith(".labels.png"):
                lab = img.with_name(img.stem + ".labels.png")
                if lab.is_file():
                    pairs.append((img, lab))
        if not pairs:
            raise UsageError(f"--pairs {folder} has no NAME.<ext> image with a NAME.labels.png beside it")
    if not pairs:
        raise UsageError("give --image IMG --labels LABELS.png (repeatable) or --pairs FOLDER")
    return pairs


def main(args: argparse.Namespace) -> int:
    pairs = collect_pairs(args)
    images, labels = [], []
    for img, lab in pairs:
        for path in (img, lab):
            if not path.is_file():
                raise UsageError(f"{path} does not exist")
        try:
            images.append(load_image(img))
        except ImageError as e:
            raise UsageError(f"{img}: {e}") from None
        try:
            labels.append(read_label_png(lab))
        except ImageError as e:
            raise UsageError(str(e)) from None
    largest = max(int(lab.max()) for lab in labels)
    classes = args.classes or [f"class{k}" for k in range(1, max(largest, 2) + 1)]
    if len(classes) > MAX_CLASSES:
        raise UsageError(f"at most {MAX_CLASSES} classes, got {len(classes)}")
    t0 = time.perf_counter()
    try:
        result = fit_scribbles(images, labels, class_names=classes, backbone=args.backbone, taps=args.taps,
                               mlp_widths=args.mlp_width, steps=args.steps, pixels_per_image=args.pixels,
                               lr=args.lr, seed=args.seed, device=args.device)
    except ScribbleError as e:
        raise UsageError(str(e)) from None
    model = result.model
    model.config.provenance.update({"images": [str(i) for i, _ in pairs], "labels": [str(lab) for _, lab in pairs],
                                    "command": "python train/scribble.py " + " ".join(sys.argv[1:])})
    out = save_model(model.cpu(), args.out, backbone="pretrained")
    write_resolved_config(args, Path(out) / "scribble_args.yaml")
    counts = ", ".join(f"{n} {c}" for n, c in zip(classes, result.counts))
    print(f"trained a {len(classes)}-class head on {len(images)} image(s) ({counts} labelled pixels) in "
          f"{result.seconds:.2f} s of {args.steps} steps (total {time.perf_counter() - t0:.1f} s); "
          f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, parse_args(get_args_parser()), prog="train/scribble.py"))
