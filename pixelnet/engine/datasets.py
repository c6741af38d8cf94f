"""Open the dataset named on a command line, turning every way it can be unusable (unknown
name, wrong root, missing files, missing labels for the task) into a one-line error.

Datasets come from :func:`pixelnet.data.build_dataset`; SynthScenes takes a ``size`` and a
window of its split (``seed_offset``, ``length``), so evaluation can run on scenes a model
never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import data as pdata
from .cli import UsageError

__all__ = ["EVAL_SPLITS", "REQUIRED_KEYS", "VAL_SPLITS", "dataset_class_names", "open_dataset"]

EVAL_SPLITS: dict[str, str] = {
    "synth": "test", "synth-real": "test", "bsds500": "test", "hed-bsds": "test", "nyuv2": "val",
    "pascal-context": "val",
    "voc2012": "val", "sbd": "val", "voc-aug": "val", "middlebury-motorcycle": "test", "middlebury-aloe": "test",
    "composites": "test", "composites-close": "test",
    "hed-distill": "test", "synth-real+hed-distill": "test", "real-categories": "test", "real-categories-soft": "test",
    "real-objects": "test", "real-objects-categories": "test",
}
"""The split each dataset's benchmark numbers are reported on (NYUv2's ``val`` is its 654-image
test set; PASCAL's test labels are not public)."""

VAL_SPLITS: dict[str, str] = {
    "synth": "val", "synth-real": "val", "bsds500": "val", "hed-bsds": "test", "nyuv2": "val",
    "pascal-context": "val",
    "voc2012": "val", "sbd": "val", "voc-aug": "val", "middlebury-motorcycle": "test", "middlebury-aloe": "test",
    "composites": "val", "composites-close": "val",
    "hed-distill": "val", "synth-real+hed-distill": "val", "real-categories": "val", "real-categories-soft": "val",
    "real-objects": "val", "real-objects-categories": "val",
}
"""The split watched during training (the benchmark split where there is no separate one)."""

REQUIRED_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {"seg": ("image", "seg"), "normals": ("image", "normals", "valid"),
              "edges": ("image", "edges")},
    "eval": {"seg": ("image", "seg"), "normals": ("image", "normals", "valid"),
             "edges": ("image", "edges_gt")},
}
"""Sample keys a task needs, for training and for evaluation."""


def open_dataset(name: str, *, task: str, split: str, root: str | Path | None = None, purpose: str = "train",
                 synth_size: tuple[int, int] = (256, 256), length: int | None = None,
                 seed_offset: int = 0, normal_signs: Sequence[int] | None = None) -> Any:
    """Build a dataset and check its first sample carries what ``task`` needs.

    Args:
        name: dataset name (``synth``, ``bsds500``, ...).
        task: the task it is used for.
        split: split name.
        root: dataset folder (not used by ``synth``); a leading ``~`` is the user's home, as
            models record their data root (``~/.cache/...``).
        purpose: ``"train"`` or ``"eval"`` (selects :data:`REQUIRED_KEYS`).
        synth_size: SynthScenes (``synth``, ``synth-real``) and composites image size ``(H, W)``.
        length: SynthScenes number of scenes (None: the rest of the split).
        seed_offset: SynthScenes first position in the split.
        normal_signs: NYUv2 only, per-axis signs ``(sx, sy, sz)`` applied to the stored normals.

    Raises:
        UsageError: anything that makes the dataset unusable, in one line.
    """
    if root is not None:
        root = Path(root).expanduser()
    tasks = getattr(pdata, "DATASET_TASKS", {}).get(name)
    if tasks is not None and task not in tasks:
        raise UsageError(f"dataset {name!r} has no {task!r} labels (it has {list(tasks)})")
    where = f"dataset {name!r} (split {split!r}" + (f", root {root}" if root else "") + ")"
    if name == "synth":
        kwargs: dict[str, Any] = {"size": tuple(synth_size), "length": length, "seed_offset": seed_offset}
    elif name in getattr(pdata, "ROOTLESS_DATASETS", ()):
        if root is not None:
            raise UsageError(f"--data {name} ships with its package: drop --data-root")
        kwargs = {}
    else:
        if root is None:
            raise UsageError(f"--data {name} needs --data-root (the folder holding the dataset)")
        if not Path(root).exists():
            raise UsageError(f"--data-root {root} does not exist")
        kwargs = {"size": tuple(synth_size)} if name in ("composites", "composites-close") else {}  # any size
        if name == "synth-real":
            kwargs = {"size": tuple(synth_size), "length": length, "seed_offset": seed_offset}
        elif name in ("hed-distill", "synth-real+hed-distill", "real-categories", "real-categories-soft",
                      "real-objects", "real-objects-categories"):
            kwargs = {"size": tuple(synth_size), "length": length}
    if normal_signs is not None:
        if name != "nyuv2":
            raise UsageError(f"--normal-signs applies to --data nyuv2 only, not {name!r}")
        if len(normal_signs) != 3 or any(v not in (-1, 1) for v in normal_signs):
            raise UsageError(f"--normal-signs takes three signs, e.g. 1,-1,1 (got {list(normal_signs)})")
        kwargs["normal_signs"] = tuple(int(v) for v in normal_signs)
    build = getattr(pdata, "build_dataset", None)
    try:
        if build is not None:
            ds = build(name, root=None if root is None else str(root), split=split, **kwargs)
        elif name == "synth":
            ds = pdata.SynthScenes(split, **kwargs)
        else:
            raise UsageError(f"{where}: real-dataset loaders are not available in this pixelnet.data")
        if len(ds) == 0:
            raise UsageError(f"{where} is empty")
        sample = ds[0]
    except UsageError:
        raise
    except (OSError, ValueError, KeyError, IndexError, RuntimeError) as e:
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise UsageError(f"{where}: {msg}") from e
    missing = [k for k in REQUIRED_KEYS[purpose][task] if k not in sample]
    if missing:
        raise UsageError(f"{where} has no {missing} labels: it cannot be used for task {task!r}")
    return ds


def dataset_class_names(name: str, root: str | Path | None = None) -> list[str]:
    """Class names of a segmentation dataset (index = label value); ``root`` is read by the
    datasets whose classes are found on disk (``composites``, ``composites-close``)."""
    fn = getattr(pdata, "dataset_classes", None)
    if fn is not None:
        try:
            return list(fn(name) if root is None else fn(name, root))
        except (KeyError, ValueError) as e:
            raise UsageError(f"dataset {name!r} has no class list: {e}") from e
    if name == "synth":
        return list(pdata.SYNTH_CLASSES)
    raise UsageError(f"no class list for dataset {name!r}")
