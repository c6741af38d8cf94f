"""Prediction and label files: what ``train/predict.py``, ``train/scribble.py`` and the explorer write and read.

Per image and task (``stem`` is the image's file name without its suffix):

- seg: ``stem.seg.png`` (8-bit index PNG, class k = value k) and ``stem.seg_colour.png``;
- normals: ``stem.normals.png`` (RGB = (n + 1) / 2) and ``stem.normals.npy`` (float32 ``(H, W, 3)``);
- edges: ``stem.edges.png`` (8-bit probability, 255 = 1.0) and ``stem.edges_nms.png`` (the thinned map, same scale).

Label maps of strokes are 8-bit index PNGs: 0 = unlabelled, k = class k (1..K).

Every file is written under a temporary name in its folder (``.NAME.PID.tmp``) and renamed into
place (:func:`atomic_path`), so a file present under its final name is complete even right after
the writer was killed; :func:`remove_stale_temporaries` clears what a killed writer left.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from .image import ImageError
from .visualize import class_palette, colorize_labels, normals_to_rgb

__all__ = [
    "atomic_path", "label_png_bytes", "model_zip_bytes", "prediction_names", "read_label_png",
    "remove_stale_temporaries", "write_predictions",
]

TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block ends.

    The temporary name is ``.NAME.PID.tmp`` in the same folder (so the rename is atomic and two
    processes never share one). If the block raises, the temporary file is removed and ``path``
    is left as it was.

    Args:
        path: the destination.
        fsync: flush the file's data to disk before the rename (a power cut then leaves the old
            file or the new one, never an empty one).

    Yields:
        The temporary path (write the whole file there, and close it, inside the block).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(folder: str | Path, names: Collection[str] | None = None) -> int:
    """Delete the temporary files :func:`atomic_path` left in ``folder`` when its writer was killed.

    Args:
        folder: the folder (a missing folder holds none).
        names: only temporaries of these final file names (None: all of them). Give the names a
            process owns when other processes may be writing into the same folder.

    Returns:
        How many were removed.
    """
    d = Path(folder)
    if not d.is_dir():
        return 0
    removed = 0
    for p in d.iterdir():
        parts = p.name.rsplit(".", 2)  # ".NAME", "PID", "tmp"
        if not (p.name.startswith(".") and p.name.endswith(TMP_SUFFIX) and len(parts) == 3 and parts[1].isdigit()):
            continue
        if names is not None and parts[0][1:] not in names:
            continue
        p.unlink(missing_ok=True)
        removed += 1
    return removed


def prediction_names(stem: str, task: str, *, suffix: str = "", legend: bool = False) -> list[str]:
    """The file names :func:`write_predictions` writes for one image and task, in writing order.

    Args:
        stem: base name of the files.
        task: ``seg``, ``normals`` or ``edges``.
        suffix: added after the task name.
        legend: seg only: the ``.json`` legend of class names is written too.

    Raises:
        ValueError: an unknown task.
    """
    tag = f"{stem}.{task}{suffix}"
    if task == "seg":
        return [f"{tag}.png", f"{tag}_colour.png"] + ([f"{tag}.json"] if legend else [])
    if task == "normals":
        return [f"{tag}.png", f"{tag}.npy"]
    if task == "edges":
        return [f"{tag}.png", f"{tag}_nms.png"]
    raise ValueError(f"unknown task {task!r}")


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
        The files written (each complete: written under a temporary name and renamed into place).

    Raises:
        ValueError: an unknown task (before anything is written).
    """
    from .metrics import edge_nms

    for task in preds:
        prediction_names(stem, task)  # fail before writing on an unknown task
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(name: str, data: np.ndarray | str) -> None:
        path = d / name
        with atomic_path(path) as tmp:
            if isinstance(data, str):
                tmp.write_text(data)
            elif name.endswith(".npy"):
                with open(tmp, "wb") as f:
                    np.save(f, data)
            else:
                Image.fromarray(data).save(tmp, format="PNG")
        written.append(path)

    for task, y in preds.items():
        names = prediction_names(stem, task, suffix=suffix, legend=task == "seg" and bool(class_names))
        if task == "seg":
            idx = y.argmax(0).astype(np.uint8)
            save(names[0], idx)
            save(names[1], colorize_labels(idx, class_palette(y.shape[0])))
            if class_names:
                save(names[2], json.dumps({"classes": list(class_names)}, indent=1) + "\n")
        elif task == "normals":
            save(names[0], normals_to_rgb(y))
            save(names[1], y.astype(np.float32))
        elif task == "edges":
            save(names[0], np.round(np.clip(y, 0, 1) * 255).astype(np.uint8))
            thin = edge_nms(y)
            save(names[1], np.round(np.clip(thin, 0, 1) * 255).astype(np.uint8))
    return written
