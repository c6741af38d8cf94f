"""Figure of the Middlebury motorcycle evaluation: ``python train/middlebury_figure.py --out docs/middlebury.jpg``.

Top row: the photo, the ground-truth normals from the disparity's plane fit (black: not valid),
the normals model's prediction and its angular error (black 0°, white >= 60°, on valid pixels).
Bottom row: the occlusion boundaries, then for the edges model and HED the kept thinned edge
pixels of :func:`pixelnet.metrics.boundary_recall` (green: within the tolerance of a boundary,
red: not) over the boundaries (grey). Lines are drawn 3 px wide so that they survive the
down-sizing of the panels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from pixelnet.data import build_dataset
from pixelnet.engine import HelpFormatter
from pixelnet.evaluation import predict_full_size
from pixelnet.metrics import edge_nms, top_n_mask
from pixelnet.model import PixelNet
from pixelnet.predictor import Predictor
from pixelnet.zoo import load_model_or_reference


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--normals", default="assets/models/normals", help="normals model folder")
    p.add_argument("--edges", default="assets/models/edges,hed", help="comma-separated edge models (folders or hed)")
    p.add_argument("--tolerance", type=float, default=2.0, help="boundary match distance (px)")
    p.add_argument("--budget", type=float, default=2.0, help="kept thinned edge pixels per boundary pixel")
    p.add_argument("--scale", type=float, default=0.5, help="panel size relative to the image")
    p.add_argument("--out", default="docs/middlebury.jpg", help="output JPEG")
    return p


def _predict(name: str, task: str, image: np.ndarray) -> np.ndarray:
    model = load_model_or_reference(name)
    predictor = Predictor(model, device="cpu") if isinstance(model, PixelNet) else model.predictor(device="cpu")
    return predict_full_size(predictor, task, image)


def _normals_rgb(n: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return (np.clip(n * 0.5 + 0.5, 0, 1) * 255 * valid[..., None]).astype(np.uint8)


def main(args: argparse.Namespace) -> None:
    s = build_dataset("middlebury-motorcycle", root=None, split="test")[0]
    image, gt, valid, boundary = s["image"], s["normals"], s["valid"], s["edges_gt"][0]
    pred = _predict(args.normals, "normals", image)
    err = np.degrees(np.arccos(np.clip((pred * gt).sum(-1), -1, 1)))
    err_rgb = (np.clip(err / 60.0, 0, 1) * 255 * valid)[..., None].repeat(3, -1).astype(np.uint8)
    grow = np.ones((3, 3), bool)  # lines drawn 3 px wide, to survive the down-sizing
    grey = np.zeros(image.shape, np.uint8)
    grey[ndimage.binary_dilation(boundary, grow)] = 255
    panels = [(image, "photo"), (_normals_rgb(gt, valid), "normals: plane fit"),
              (_normals_rgb(pred, np.ones_like(valid)), f"{args.normals}"), (err_rgb, "angular error 0-60 deg")]
    panels.append((grey, "occlusion boundaries"))
    near_boundary = ndimage.distance_transform_edt(~boundary) <= args.tolerance
    for name in [t for t in args.edges.split(",") if t]:
        kept = top_n_mask(edge_nms(_predict(name, "edges", image)), int(round(args.budget * boundary.sum())))
        rgb = (grey // 3).copy()
        rgb[ndimage.binary_dilation(kept & ~near_boundary, grow)] = (230, 0, 0)
        rgb[ndimage.binary_dilation(kept & near_boundary, grow)] = (0, 230, 0)
        panels.append((rgb, f"{name}: kept pixels"))
    h, w = (int(round(d * args.scale)) for d in image.shape[:2])
    cols = 4
    rows = -(-len(panels) // cols)
    sheet = Image.new("RGB", (cols * w, rows * h), "black")
    draw = ImageDraw.Draw(sheet)
    for i, (arr, title) in enumerate(panels):
        x, y = (i % cols) * w, (i // cols) * h
        sheet.paste(Image.fromarray(arr).resize((w, h), Image.Resampling.BOX), (x, y))
        draw.rectangle([x, y, x + 7 * len(title) + 6, y + 14], fill="black")
        draw.text((x + 3, y + 2), title, fill="white")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=85)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
