"""Side-by-side predictions of several models on the example photos, one column per model.

    python train/compare_figure.py --model assets/models/edges --model runs/edges_vgg_hed --model hed \\
        --out docs/edges_vgg_hed.jpg
    python train/compare_figure.py --model assets/models/seg --model assets/models/seg_objects --out docs/seg.jpg

Rows are the photos (``--examples``, every ``*.jpg``); the first column is the photo, then each
``--model`` (a model folder of any task, or ``hed``) drawn as the explorer draws it: segmentation
as class colours, normals as RGB, edges dark on white. ``--title`` names the columns (default:
the folder names).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pixelnet.engine.cli import HelpFormatter
from pixelnet.engine.progress import Progress
from pixelnet.image import load_image
from pixelnet.model import PixelNet
from pixelnet.predictor import Predictor
from pixelnet.reference import load_model_or_reference
from pixelnet.visualize import edges_to_rgb, normals_to_rgb, seg_to_rgb

DRAW = {"seg": seg_to_rgb, "normals": normals_to_rgb, "edges": edges_to_rgb}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--model", action="append", required=True, help="model folder or 'hed' (repeatable)")
    p.add_argument("--title", action="append", default=None, help="column title per --model (repeatable)")
    p.add_argument("--examples", default="assets/examples", help="folder of example photos (*.jpg)")
    p.add_argument("--max-side", type=int, default=320, help="longer side the photos are predicted at")
    p.add_argument("--height", type=int, default=150, help="tile height in the figure (px)")
    p.add_argument("--out", required=True, help="output JPEG")
    return p


def _predictor(spec: str, max_side: int):
    """``(task, predictor)`` of a model folder or reference name: a :class:`Predictor` or HED's."""
    model = load_model_or_reference(spec)
    if isinstance(model, PixelNet):
        return model.task, Predictor({model.task: model}, device="cpu", max_side=max_side)
    return model.task, model.predictor(device="cpu", max_side=max_side)


def main(args: argparse.Namespace) -> None:
    titles = args.title or [Path(m).name for m in args.model]
    if len(titles) != len(args.model):
        raise SystemExit(f"error: {len(titles)} --title for {len(args.model)} --model")
    photos = sorted(Path(args.examples).glob("*.jpg"))
    if not photos:
        raise SystemExit(f"error: no *.jpg in {args.examples}")
    predictors = [_predictor(m, args.max_side) for m in args.model]
    rows, first_widths = [], []
    with Progress("figure", total=len(photos), unit="photo") as bar:
        for photo in photos:
            rgb = load_image(photo)
            tiles, img = [], rgb
            for task, pred in predictors:
                img = pred.set_image(rgb)
                tiles.append(DRAW[task](pred.predict()[task]))
            h = args.height
            w = round(img.shape[1] * h / img.shape[0])
            row = [np.pad(np.asarray(Image.fromarray(t).resize((w, h))), ((0, 0), (0, 3), (0, 0)),
                          constant_values=255) for t in [img, *tiles]]
            first_widths = first_widths or [t.shape[1] for t in row]
            rows.append(np.concatenate(row, 1))
            bar.update(1, note=photo.name)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 3), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    head = Image.new("RGB", (width, 16), "white")
    draw = ImageDraw.Draw(head)
    for x, t in zip(np.cumsum([0, *first_widths[:-1]]), ["photo", *titles]):
        draw.text((int(x) + 3, 2), t, fill="black")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([np.asarray(head), *rows], 0)).save(out, quality=85, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
