"""Figures and regression figures for the shipped default models (assets/models/).

``python train/model_card.py --models assets/models`` writes

- ``assets/models/regression.json``: each model's metrics on a small fixed slice of the
  SynthScenes test split (what ``tests/test_default_models.py`` checks against), and
- ``docs/default_models_examples.jpg``: the three predictions on the real example photos.

Test-split metrics for the model card itself come from ``train/eval.py`` (see
assets/models/README.md for the commands).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from pixelnet.data import SynthScenes
from pixelnet.engine import HelpFormatter
from pixelnet.evaluation import evaluate
from pixelnet.image import load_image
from pixelnet.io import load_model, load_models
from pixelnet.predictor import Predictor
from pixelnet.progress import Progress
from pixelnet.visualize import edges_to_rgb, normals_to_rgb, seg_to_rgb

TASKS = ("seg", "normals", "edges")
SLICE = {"seg": 3, "normals": 3, "edges": 2}  # scenes of the regression slice (edges are slow to score)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--models", default="assets/models", help="folder with seg/, normals/, edges/")
    p.add_argument("--examples", default="assets/examples", help="folder of example photos (*.jpg)")
    p.add_argument("--figure", default="docs/default_models_examples.jpg", help="example figure written")
    p.add_argument("--size", type=int, default=256, help="SynthScenes size of the regression slice")
    p.add_argument("--seed", type=int, default=0, help="first test scene of the regression slice")
    p.add_argument("--skip-regression", action="store_true", help="only the figure, no SynthScenes metrics")
    return p


def regression_figures(models: Path, size: int, seed: int) -> dict:
    """Metrics of each model on the fixed test slice, in the layout the regression test reads."""
    out: dict = {"tasks": {}}
    for task in TASKS:
        s = {"split": "test", "seed": seed, "limit": SLICE[task], "size": [size, size], "scales": [1.0]}
        data = SynthScenes("test", size=(size, size), length=s["limit"], seed_offset=seed)
        with Progress(f"regression slice {task}", unit="image") as bar:
            metrics = evaluate(load_model(models / task, task=task), data, scales=(1.0,), device="cpu",
                               progress=bar)
        out["tasks"][task] = {"slice": s, "metrics": metrics}
        print(task, metrics)
    return out


def example_figure(models: Path, examples: Path, path: Path, height: int = 160) -> None:
    """Rows: photo | segmentation | normals | edges, for every example photo."""
    predictor = Predictor(load_models({t: models / t for t in TASKS}), device="cpu", max_side=320)
    rows = []
    photos = sorted(examples.glob("*.jpg"))
    bar = Progress("example figure", total=len(photos), unit="photo")
    for photo in photos:
        img = predictor.set_image(load_image(photo))
        pred = predictor.predict()
        tiles = [img, seg_to_rgb(pred["seg"]), normals_to_rgb(pred["normals"]), edges_to_rgb(pred["edges"])]
        w = round(img.shape[1] * height / img.shape[0])
        rows.append(np.concatenate([np.asarray(Image.fromarray(t).resize((w, height))) for t in tiles], 1))
        bar.update(1, note=photo.name)
    bar.close()
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(path, quality=85, optimize=True)
    print(f"wrote {path}")


def main(args: argparse.Namespace) -> None:
    models = Path(args.models)
    if not args.skip_regression:
        card = regression_figures(models, args.size, args.seed)
        (models / "regression.json").write_text(json.dumps(card, indent=2) + "\n")
        print(f"wrote {models / 'regression.json'}")
    example_figure(models, Path(args.examples), Path(args.figure))


if __name__ == "__main__":
    main(get_args_parser().parse_args())
