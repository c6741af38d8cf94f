"""Side-by-side predictions of several models on the example photos, one column per model.

    python train/compare_figure.py --model assets/models/edges --model runs/edges_vgg_hed --model hed \\
        --out docs/edges_vgg_hed.jpg
    python train/compare_figure.py --model assets/models/seg --model assets/models/seg_objects --out docs/seg.jpg

Rows are the photos (``--examples``, every ``*.jpg``; ``--images`` adds files or glob patterns,
``--composites N --data-root CACHE`` the first N composites of the test split, ``--test-photos N
--data-root CACHE`` the first N real photos of the test split, held out from every real-photo
training); the first column
is the photo, then each ``--model`` (a model folder of any task, ``hed``, or ``imagenet-dense``)
drawn as the explorer draws it: segmentation as class colours (a category model's unsure pixels
as ``other``) with the names of its three largest classes written on them, normals as RGB, edges
dark on white. ``--title`` names the columns (default: the folder names).
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pixelnet.engine import HelpFormatter
from pixelnet.image import load_image
from pixelnet.model import PixelNet
from pixelnet.predictor import Predictor
from pixelnet.progress import Progress
from pixelnet.visualize import class_palette, colorize_labels, edges_to_rgb, normals_to_rgb, seg_labels
from pixelnet.zoo import load_model_or_reference

DRAW = {"normals": normals_to_rgb, "edges": edges_to_rgb}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--model", action="append", required=True, help="model folder or 'hed' (repeatable)")
    p.add_argument("--title", action="append", default=None, help="column title per --model (repeatable)")
    p.add_argument("--examples", default="assets/examples", help="folder of example photos (*.jpg)")
    p.add_argument("--images", action="append", default=[], help="more photos: a file or a glob (repeatable)")
    p.add_argument("--composites", type=int, default=0, metavar="N",
                   help="add the first N composites of the test split (needs --data-root)")
    p.add_argument("--test-photos", type=int, default=0, metavar="N",
                   help="add the first N real photos (scenes, backgrounds) of the test split (needs --data-root)")
    p.add_argument("--labelled-photos", type=int, default=0, metavar="N",
                   help="N labelled test photos of the cache (CACHE/photos, held out from training), taken in turn "
                   "from each folder label")
    p.add_argument("--data-root", help="the train/fetch_data.py cache (needed by the three options above)")
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


def _class_names(pred: object) -> list[str]:
    """Class names of a predictor's seg model (a PixelNet's config, or a reference model's)."""
    model = getattr(pred, "models", {}).get("seg") or getattr(pred, "model", None)
    return list(model.config.class_names or [])


def _draw_seg(probs: np.ndarray, names: list[str], size: tuple[int, int], top: int = 3) -> np.ndarray:
    """Class colours of ``(K, H, W)`` probabilities at ``size`` ``(w, h)``, with the names of the
    ``top`` largest classes written on them."""
    labels = np.asarray(Image.fromarray(seg_labels(probs, names).astype(np.uint8)).resize(size, Image.NEAREST))
    img = Image.fromarray(colorize_labels(labels, class_palette(len(names))))
    draw = ImageDraw.Draw(img)
    counts = np.bincount(labels.ravel(), minlength=len(names))
    for k in np.argsort(-counts)[:top]:
        if counts[k] == 0:
            break
        ys, xs = np.nonzero(labels == k)
        i = len(ys) // 2  # a pixel of the class near its middle row
        y, x = int(ys[np.argsort(ys)[i]]), int(np.median(xs[ys == ys[np.argsort(ys)[i]]]))
        draw.text((max(0, x - 12), max(0, y - 5)), names[k], fill="white", stroke_width=2, stroke_fill="black")
    return np.asarray(img)


def labelled_by_folder(root: str, n: int) -> list[tuple[Path, str]]:
    """``n`` labelled test photos, taken in turn from each folder label (in manifest order)."""
    from pixelnet.distill import labelled_photos

    by_label: dict[str, list[tuple[Path, str]]] = {}
    for f, label in labelled_photos(Path(root).expanduser(), "test"):
        by_label.setdefault(label, []).append((f, label))
    out: list[tuple[Path, str]] = []
    while len(out) < n and any(by_label.values()):
        for items in by_label.values():
            if items and len(out) < n:
                out.append(items.pop(0))
    return out


def main(args: argparse.Namespace) -> None:
    titles = args.title or [Path(m).name for m in args.model]
    if len(titles) != len(args.model):
        raise SystemExit(f"error: {len(titles)} --title for {len(args.model)} --model")
    photos: list[tuple[str, np.ndarray]] = [(p.name, load_image(p)) for p in sorted(Path(args.examples).glob("*.jpg"))]
    for spec in args.images:
        found = sorted(glob.glob(spec)) or [spec]
        photos += [(Path(f).name, load_image(f)) for f in found]
    if (args.composites or args.test_photos or args.labelled_photos) and not args.data_root:
        raise SystemExit("error: --composites, --test-photos and --labelled-photos need --data-root")
    if args.labelled_photos:
        photos += [(f"{label or 'unlabelled'}: {f.name}", load_image(f))
                   for f, label in labelled_by_folder(args.data_root, args.labelled_photos)]
    if args.test_photos:
        from pixelnet.distill import real_photo_files

        found = real_photo_files(Path(args.data_root).expanduser(), "test")[: args.test_photos]
        photos += [(f.name, load_image(f)) for f in found]
    if args.composites:
        from pixelnet.synth import Composites

        test = Composites(Path(args.data_root).expanduser(), "test", size=(256, 256))
        photos += [(f"composite {i}", np.asarray(test[i]["image"])) for i in range(args.composites)]
    if not photos:
        raise SystemExit(f"error: no *.jpg in {args.examples} and no --images")
    predictors = [_predictor(m, args.max_side) for m in args.model]
    rows, first_widths = [], []
    with Progress("figure", total=len(photos), unit="photo") as bar:
        for name, rgb in photos:
            tiles, img = [], rgb
            h = args.height
            w = round(rgb.shape[1] * h / rgb.shape[0])
            for task, pred in predictors:
                img = pred.set_image(rgb)
                out = pred.predict()[task]
                tiles.append(_draw_seg(out, _class_names(pred), (w, h)) if task == "seg" else DRAW[task](out))
            row = [np.pad(np.asarray(Image.fromarray(t).resize((w, h))), ((0, 0), (0, 3), (0, 0)),
                          constant_values=255) for t in [img, *tiles]]
            first_widths = first_widths or [t.shape[1] for t in row]
            rows.append(np.concatenate(row, 1))
            bar.update(1, note=name)
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
