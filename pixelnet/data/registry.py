"""Dataset registry: build any dataset by the name the training CLI uses (``--data``).

Example::

    ds = build_dataset("bsds500", root="/data/BSR", split="train", consensus=3)
    ds = build_dataset("synth", root=None, split="val", size=(128, 128), length=200)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from pixelnet.datasets.bsds import BSDS500, HEDBSDS
from pixelnet.datasets.middlebury import MiddleburyMotorcycle
from pixelnet.datasets.middlebury_aloe import MiddleburyAloe
from pixelnet.datasets.nyuv2 import NYU13_CLASSES, NYUv2Normals
from pixelnet.datasets.pascal import PASCAL_CONTEXT_CLASSES, VOC2012, VOC_CLASSES, PascalContext
from pixelnet.datasets.sbd import SBD, VOCAug
from pixelnet.distill.hed import HEDDistilled, MixedEdges
from pixelnet.objects import WHERE_CLASSES
from pixelnet.synth.composites import CLOSE_UP_SCALE, Composites, composite_classes
from pixelnet.synth.photos import PhotoTextures
from pixelnet.synth.scenes import SYNTH_CLASSES, SynthScenes

__all__ = ["DATASETS", "DATASET_TASKS", "DATASET_WHAT", "EVAL_ONLY_DATASETS", "ROOTLESS_DATASETS", "TRAIN_DATASETS",
           "build_dataset", "dataset_classes"]

DATASET_TASKS: dict[str, tuple[str, ...]] = {
    "synth": ("seg", "normals", "edges"),
    "synth-real": ("seg", "normals", "edges"),
    "bsds500": ("edges",),
    "hed-bsds": ("edges",),
    "nyuv2": ("normals", "seg"),
    "pascal-context": ("seg",),
    "voc2012": ("seg",),
    "sbd": ("seg",),
    "voc-aug": ("seg",),
    "middlebury-motorcycle": ("normals", "edges"),
    "middlebury-aloe": ("edges",),
    "composites": ("seg",),
    "composites-close": ("seg",),
    "hed-distill": ("edges",),
    "synth-real+hed-distill": ("edges",),
    "real-categories": ("seg",),
    "real-categories-soft": ("seg",),
    "real-objects": ("seg",),
    "real-objects-categories": ("seg",),
}
"""Tasks each dataset has labels for."""

DATASET_WHAT: dict[str, str] = {"real-objects": "imagenet-dense"}
"""Datasets of *where* labels (``background``, ``object``, ``person``) -> the teacher that names
the objects of a model trained on them (recorded as ``ModelConfig.what``, :mod:`pixelnet.objects`)."""

DATASETS: tuple[str, ...] = tuple(DATASET_TASKS)
"""Names accepted by :func:`build_dataset`."""

EVAL_ONLY_DATASETS: frozenset[str] = frozenset({"middlebury-motorcycle", "middlebury-aloe"})
"""Datasets of one or two scenes, with a test split only: ``train/eval.py`` scores on them,
``train/run.py`` does not train on them."""

TRAIN_DATASETS: tuple[str, ...] = tuple(d for d in DATASETS if d not in EVAL_ONLY_DATASETS)
"""The ``--data`` choices of ``train/run.py``."""

ROOTLESS_DATASETS: frozenset[str] = frozenset({"synth", "middlebury-motorcycle"})
"""Datasets that need no folder on disk (generated, or shipped inside a package)."""

_CLASSES: dict[str, tuple[str, ...] | None] = {
    "synth": SYNTH_CLASSES,
    "synth-real": SYNTH_CLASSES,
    "bsds500": None,
    "hed-bsds": None,
    "nyuv2": NYU13_CLASSES,
    "pascal-context": PASCAL_CONTEXT_CLASSES,
    "voc2012": VOC_CLASSES,
    "sbd": VOC_CLASSES,
    "voc-aug": VOC_CLASSES,
    "middlebury-motorcycle": None,
    "middlebury-aloe": None,
    "composites": None,  # read from the root: background + the cut-out folders
    "composites-close": None,
    "hed-distill": None,
    "synth-real+hed-distill": None,
    "real-categories": None,  # the category table's names and person, read on first use
    "real-categories-soft": None,
    "real-objects": WHERE_CLASSES,
    "real-objects-categories": None,  # the category table's names and person, read on first use
}

_HED_LISTS = {"train": "train_pair.lst", "test": "test.lst"}


def _check_name(name: str) -> None:
    if name not in DATASET_TASKS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")


def _synth(root: Path | None, split: str, **kw: Any) -> Dataset:
    if root is not None:
        raise ValueError(f"the synth dataset is generated, it takes no root (got {root})")
    return SynthScenes(split, **kw)


def _synth_real(root: Path, split: str, **kw: Any) -> Dataset:
    """SynthScenes textured with the real photos of ``root/backgrounds`` (of the same split)."""
    return SynthScenes(split, photos=PhotoTextures(root, split), **kw)


def _synth_real_hed(root: Path, split: str, *, size: tuple[int, int] = (256, 256), length: int | None = None,
                    **kw: Any) -> Dataset:
    """``synth-real`` (exact boundaries) and ``hed-distill`` (HED's, on real photos), alternating."""
    synth = SynthScenes(split, size=size, photos=PhotoTextures(root, split), length=length)
    return MixedEdges(synth, HEDDistilled(root, split, size=size, **kw), length=2 * len(synth) if length else None)


def _rootless(cls: Callable[..., Dataset], name: str) -> Callable[..., Dataset]:
    def build(root: Path | None, split: str, **kw: Any) -> Dataset:
        if root is not None:
            raise ValueError(f"the {name} dataset ships with its package, it takes no root (got {root})")
        return cls(split, **kw)
    return build


def _hed(root: Path, split: str, **kw: Any) -> Dataset:
    if "list_file" not in kw:
        if split not in _HED_LISTS:
            raise ValueError(f"unknown hed-bsds split {split!r}; expected one of {tuple(_HED_LISTS)}")
        kw["list_file"] = _HED_LISTS[split]
    return HEDBSDS(root, **kw)


def _composites_close(root: str | Path, split: str, **kw: Any) -> Composites:
    """Composites with close-ups: cut-outs of :data:`CLOSE_UP_SCALE` of the shorter side."""
    return Composites(root, split, scale=CLOSE_UP_SCALE, **kw)


def _real_categories(root: str | Path, split: str, **kw: Any) -> Dataset:
    """Real photos with the teachers' category pseudo-labels and composites (imported on use)."""
    from pixelnet.distill.real_categories import RealCategories

    return RealCategories(root, split, **kw)


def _real_categories_soft(root: str | Path, split: str, **kw: Any) -> Dataset:
    """The same photos with soft targets: labels drawn from the teachers' probabilities per sample."""
    from pixelnet.distill.pseudo_labels import LabelRule
    from pixelnet.distill.real_categories import RealCategories

    return RealCategories(root, split, rule=LabelRule(soft=True), **kw)


def _real_objects(root: str | Path, split: str, **kw: Any) -> Dataset:
    """Real photos with pixel-accurate *where* pseudo-labels (imported on use: it reads the teachers' maps)."""
    from pixelnet.distill.real_objects import RealObjects

    return RealObjects(root, split, **kw)


def _real_objects_categories(root: str | Path, split: str, **kw: Any) -> Dataset:
    """The same photos with category labels: the head that predicts categories directly (issue #25's comparison)."""
    from pixelnet.distill.real_objects import RealObjects

    return RealObjects(root, split, targets="categories", **kw)


_BUILDERS: dict[str, Callable[..., Dataset]] = {
    "synth": _synth,
    "synth-real": _synth_real,
    "bsds500": BSDS500,
    "hed-bsds": _hed,
    "nyuv2": NYUv2Normals,
    "pascal-context": PascalContext,
    "voc2012": VOC2012,
    "sbd": SBD,
    "voc-aug": VOCAug,
    "middlebury-motorcycle": _rootless(MiddleburyMotorcycle, "middlebury-motorcycle"),
    "middlebury-aloe": MiddleburyAloe,
    "composites": Composites,
    "composites-close": _composites_close,
    "hed-distill": HEDDistilled,
    "synth-real+hed-distill": _synth_real_hed,
    "real-categories": _real_categories,
    "real-categories-soft": _real_categories_soft,
    "real-objects": _real_objects,
    "real-objects-categories": _real_objects_categories,
}


def build_dataset(name: str, *, root: str | Path | None, split: str, **kw: Any) -> Dataset:
    """Build a dataset by name.

    Args:
        name: one of :data:`DATASETS`.
        root: dataset directory on disk (``None`` for :data:`ROOTLESS_DATASETS`, required otherwise).
        split: split name (``train`` / ``val`` / ``test``; see each dataset).
        **kw: extra keyword arguments of the dataset class (e.g. ``size`` and ``length``
            for ``synth``, ``consensus`` for ``bsds500``).

    Returns:
        the dataset; its samples follow the structure in :mod:`pixelnet.synth.scenes`.

    Raises:
        ValueError: unknown name or split, or a missing / superfluous root.
    """
    _check_name(name)
    if name not in ROOTLESS_DATASETS and root is None:
        raise ValueError(f"dataset {name!r} needs a root directory (--data-root)")
    if root is not None:
        root = Path(root).expanduser()  # models record their data root as ~/... (pixelnet.io.portable_path)
    return _BUILDERS[name](root, split=split, **kw)


def dataset_classes(name: str, root: str | Path | None = None) -> tuple[str, ...] | None:
    """Class names of a dataset's ``seg`` labels, or ``None`` if it has none.

    Args:
        name: one of :data:`DATASETS`.
        root: the dataset folder; needed by ``composites``, whose classes are its cut-out folders.

    Returns:
        the names, indexed by label value.

    Raises:
        ValueError: unknown name, or ``composites`` without a root.
    """
    _check_name(name)
    if name in ("composites", "composites-close"):
        if root is None:
            raise ValueError("the composites classes are read from its root folder (--data-root)")
        return composite_classes(Path(root).expanduser())
    if name in ("real-categories", "real-categories-soft", "real-objects-categories"):
        from pixelnet.distill.pseudo_labels import PSEUDO_CLASSES

        return PSEUDO_CLASSES
    return _CLASSES[name]
