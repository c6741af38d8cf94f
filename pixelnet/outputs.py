"""Prediction and label files: what ``train/predict.py``, ``train/scribble.py`` and the explorer write and read.

Per image and task (``stem`` is the image's file name without its suffix):

- seg: ``stem.seg.png`` (8-bit index PNG, class k = value k) and ``stem.seg_colour.png``;
- normals: ``stem.normals.png`` (RGB = (n + 1) / 2) and ``stem.normals.npy`` (float32 ``(H, W, 3)``);
- edges: ``stem.edges.png`` (8-bit probability, 255 = 1.0) and ``stem.edges_nms.png`` (the thinned map, same scale).

Label maps of strokes are 8-bit index PNGs: 0 = unlabelled, k = class k (1..K).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .image import ImageError
from .visualize import class_palette, colorize_labels, normals_to_rgb

__all__ = ["label_png_bytes", "model_zip_bytes", "read_label_png", "write_predictions"]


def read_label_png(path: str | Path) -> np.ndarray:
    """Read an index label PNG as ``(H, W)`` uint8 (palette, grey, or grey saved as RGB).

    Raises:
        ImageError: not an image, or a colour (non-grey) RGB image.
    """
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("P", "L", "I", "I;16"):
                arr = np.asarray(im)
            else:
                rgb = np.asarray(im.convert("RGB"))
                if not (rgb == rgb[..., :1]).all():
                    raise ImageError(f"{path}: a label image must be an index (palette) or grey PNG, not colour")
                arr = rgb[..., 0]
    except (OSError, SyntaxError) as e:
        raise ImageError(f"{path}: cannot read the label image ({e})") from None
    if arr.max(initial=0) > 255 or arr.min(initial=0) < 0:
        raise ImageError(f"{path}: label values must be 0..255")
    return arr.astype(np.uint8)


def label_png_bytes(labels: np.ndarray, num_classes: int) -> bytes:
    """An ``(H, W)`` label map (0 = unlabelled, k = class k) as an index PNG whose palette shows the classes."""
    im = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    pal = np.zeros((256, 3), np.uint8)
    pal[1 : num_classes + 1] = class_palette(num_classes)
    im.putpalette(pal.ravel().tolist())
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def model_zip_bytes(directory: str | Path) -> bytes:
    """A model folder (``model.safetensors`` + ``config.json``) as zip bytes."""
    d = Path(directory)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in ("model.safetensors", "config.json"):
            z.write(d / name, arcname=name)
    return buf.getvalue()


def write_predictions(out: str | Path, stem: str, preds: Mapping[str, np.ndarray], *,
                      class_names: Sequence[str] | None = None, suffix: str = "") -> list[Path]:
    """Write one image's predictions (see the module docstring for the files).

    Args:
        out: output folder (created).
        stem: base name of the files.
        preds: task -> ``seg`` ``(K, H, W)`` probabilities, ``normals`` ``(H, W, 3)``, ``edges`` ``(H, W)``.
        class_names: seg class names (a ``stem.seg.json`` legend is written with them).
        suffix: added after the task name (to tell several models of one task apart).

    Returns:
        The files written.
    """
    from .metrics import edge_nms

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(name: str, arr: np.ndarray) -> None:
        path = d / name
        Image.fromarray(arr).save(path)
        written.append(path)

    for task, y in preds.items():
        tag = task + suffix
        if task == "seg":
            idx = y.argmax(0).astype(np.uint8)
            save(f"{stem}.{tag}.png", idx)
            save(f"{stem}.{tag}_colour.png", colorize_labels(idx, class_palette(y.shape[0])))
            if class_names:
                path = d / f"{stem}.{tag}.json"
                path.write_text(json.dumps({"classes": list(class_names)}, indent=1) + "\n")
                written.append(path)
        elif task == "normals":
            save(f"{stem}.{tag}.png", normals_to_rgb(y))
            np.save(d / f"{stem}.{tag}.npy", y.astype(np.float32))
            written.append(d / f"{stem}.{tag}.npy")
        elif task == "edges":
            save(f"{stem}.{tag}.png", np.round(np.clip(y, 0, 1) * 255).astype(np.uint8))
            thin = edge_nms(y)
            save(f"{stem}.{tag}_nms.png", np.round(np.clip(thin, 0, 1) * 255).astype(np.uint8))
        else:
            raise ValueError(f"unknown task {task!r}")
    return written

