"""The figure of the label-free feature views in ``docs/demo.md`` (``docs/features.jpg``).

Row 1: the photo with the clicked pixel, then the cosine similarity of that pixel's hypercolumn
to every pixel, per tap (shallow to deep) and for the whole hypercolumn. Row 2: PCA colours per
tap, of the whole hypercolumn, and k-means segments. Default models (frozen ImageNet
EfficientNet-Lite0, every backbone tap), standardised feature space, seed 0.

    python demo/features_figure.py
    python demo/features_figure.py --image assets/examples/astronaut.jpg --click 120,80 --out /tmp/f.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python demo/features_figure.py`: make `demo` importable (repo root, once)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.models import REPO  # noqa: E402
from demo.tabs.features import similarity_rgb  # noqa: E402
from pixelnet import Predictor, load_models  # noqa: E402
from pixelnet.engine import HelpFormatter  # noqa: E402
from pixelnet.features import (  # noqa: E402
    HYPERCOLUMN,
    DenseHypercolumns,
    feature_spaces,
    fit_kmeans,
    fit_pca,
    kmeans_labels,
    pca_rgb,
    similarity_maps,
)
from pixelnet.image import load_image  # noqa: E402
from pixelnet.visualize import class_palette, colorize_labels, draw_points, overlay  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Figure of the similarity, PCA and k-means views",
                                formatter_class=HelpFormatter)
    p.add_argument("--image", default=str(REPO / "assets" / "examples" / "chelsea.jpg"))
    p.add_argument("--click", default="140,120", help="clicked pixel x,y")
    p.add_argument("--space", default="standardised", choices=["raw", "standardised"])
    p.add_argument("--k", type=int, default=6, help="k-means segments")
    p.add_argument("--model", default=str(REPO / "assets" / "models" / "seg"), help="model whose backbone to use")
    p.add_argument("--out", default=str(REPO / "docs" / "features.jpg"))
    return p


def main(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = Predictor(load_models([args.model]), device="cpu")
    img = pred.set_image(load_image(args.image))
    task = pred.tasks[0]
    raw = DenseHypercolumns.from_predictor(pred, task, taps=list(pred.models[task].backbone.tap_names))
    (hc,) = feature_spaces([raw], args.space)
    x, y = (int(v) for v in args.click.split(","))
    maps = similarity_maps(hc, y, x)
    per_tap = [(pca_rgb(hc, fit_pca(hc, [t])).numpy(), f"PCA {t}") for t in hc.tap_names]
    pca_all = pca_rgb(hc, fit_pca(hc)).numpy()
    labels = kmeans_labels(hc, fit_kmeans(hc, args.k)).numpy()
    seg = overlay(img, colorize_labels(labels, class_palette(args.k + 1)[1:]), 0.6)

    row1 = [(draw_points(img, np.array([[y, x]]), radius=5), f"click ({x}, {y})")]
    for name, m in maps.items():
        pic = draw_points(similarity_rgb(m), np.array([[y, x]]), colour=(0, 0, 0), radius=4)
        row1.append((pic, "whole hypercolumn" if name == HYPERCOLUMN else f"similarity {name}"))
    row2 = [*per_tap, (pca_all, "PCA whole"), (seg, f"k-means, k={args.k}")]
    cols = max(len(row1), len(row2))
    h, w = img.shape[:2]
    fig, axes = plt.subplots(2, cols, figsize=(2.1 * cols, 2 * (2.1 * h / w + 0.35) + 0.3))
    for r, row in enumerate((row1, row2)):
        for c in range(cols):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(row):
                ax.imshow(row[c][0])
                ax.set_title(row[c][1], fontsize=8)
    fig.suptitle(f"{Path(args.image).name}: {args.space} hypercolumn of EfficientNet-Lite0 (ImageNet), no labels",
                 fontsize=9)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110, pil_kwargs={"quality": 88})
    print(args.out)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
