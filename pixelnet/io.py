"""Model files: ``model.safetensors`` (weights) + ``config.json`` (architecture, task,
class names, provenance). No pickle anywhere.

A model whose backbone is the unchanged pretrained one (frozen during training) may be
saved with ``backbone="pretrained"``: its weights are then not stored, and the backbone
is rebuilt from the registry's pretrained weights at load time. Models saved that way
share one backbone instance when loaded together (:func:`load_models`).

Paths in the provenance are written machine-independent (:func:`portable_provenance`): one
under the home folder as ``~/...``, one under the working directory relative to it.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .backbones import Backbone, build_backbone
from .model import ModelConfig, PixelNet

__all__ = ["ModelFileError", "read_model_meta",
           "save_model", "load_model", "load_models", "MODEL_FORMAT", "portable_path",
           "portable_provenance"]

MODEL_FORMAT = "pixelnet-model/1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class ModelFileError(ValueError):
    """A model directory is missing, malformed, or does not fit what was asked for."""


def portable_path(path: str) -> str:
    """An absolute path as this machine's user would share it: under the working directory
    relative to it, under the home folder as ``~/...``; anything else is returned unchanged."""
    if not path.startswith(os.sep):
        return path
    p = Path(os.path.normpath(path))
    cwd, home = Path.cwd(), Path.home()
    bases = [(home, "~")]
    if cwd != home and cwd not in home.parents:  # e.g. the repository; not / or the home folder itself
        bases.insert(0, (cwd, ""))
    for base, prefix in bases:
        if p == base or base in p.parents:
            rel = p.relative_to(base).as_posix()
            return (prefix + ("/" + rel if rel != "." else "")) if prefix else rel
    return path


def _portable_arg(arg: str) -> str:
    """One command-line token: ``/abs/path`` or ``--flag=/abs/path``."""
    flag, eq, value = arg.partition("=")
    return f"{flag}={portable_path(value)}" if eq and arg.startswith("-") else portable_path(arg)


def portable_provenance(value: Any, key: str = "") -> Any:
    """A provenance record with its paths made portable (:func:`portable_path`).

    Every string that is an absolute path is rewritten, and every token of a ``command``
    string (a shell command line). Dicts and lists are walked; other values are returned as they are.
    """
    if isinstance(value, Mapping):
        return {k: portable_provenance(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable_provenance(v, key) for v in value]
    if isinstance(value, str):
        if key == "command":
            try:
                args = [_portable_arg(a) for a in shlex.split(value)]
            except ValueError:  # not a shell line
                return value
            # ~/ unquoted, so that the shell expands it when the command is pasted
            return " ".join("~/" + shlex.quote(a[2:]) if a.startswith("~/") else shlex.quote(a) for a in args)
        return portable_path(value)
    return value


def save_model(model: PixelNet, directory: str | Path, *, backbone: str = "include",
               half: bool = False) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory``.

    Args:
        model: the model.
        directory: output folder (created).
        backbone: ``"include"`` stores backbone weights; ``"pretrained"`` stores only the
            head (valid when the backbone is the registry's unchanged pretrained one).
        half: store floating-point weights as float16 (loaded back as float32).

    Returns:
        The directory.
    """
    if backbone not in ("include", "pretrained"):
        raise ValueError("backbone must be 'include' or 'pretrained'")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if backbone == "pretrained":
        state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    config = model.config.to_dict()
    config["provenance"] = portable_provenance(config.get("provenance") or {})  # no machine paths
    meta = {"format": MODEL_FORMAT, "backbone_weights": backbone, "config": config}
    tmp_w, tmp_c = d / (WEIGHTS + ".tmp"), d / (CONFIG + ".tmp")
    save_file(state, str(tmp_w), metadata={"format": MODEL_FORMAT})
    tmp_c.write_text(json.dumps(meta, indent=2))
    tmp_w.replace(d / WEIGHTS)
    tmp_c.replace(d / CONFIG)
    return d


def read_model_meta(directory: str | Path) -> dict[str, Any]:
    """Read and validate ``config.json`` of a model directory.

    Raises:
        ModelFileError: missing files or malformed JSON.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ModelFileError(f"model directory {d} does not exist")
    for name in (WEIGHTS, CONFIG):
        if not (d / name).is_file():
            raise ModelFileError(f"{d / name} is missing (a model is {WEIGHTS} + {CONFIG})")
    try:
        meta = json.loads((d / CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{d / CONFIG} is not valid JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT or "config" not in meta:
        raise ModelFileError(f"{d / CONFIG} is not a {MODEL_FORMAT} model config")
    return meta


def load_model(directory: str | Path, *, task: str | None = None, device: str | torch.device = "cpu",
               backbone: Backbone | None = None) -> PixelNet:
    """Load a model directory written by :func:`save_model`.

    Args:
        directory: folder with ``model.safetensors`` and ``config.json``.
        task: if given, the task the model must be for.
        device: where to put the model.
        backbone: a backbone instance to reuse (only for ``backbone="pretrained"`` files).

    Returns:
        The model in eval mode.

    Raises:
        ModelFileError: missing/malformed files, wrong task, or weights that do not fit.
    """
    d = Path(directory)
    meta = read_model_meta(d)
    try:
        config = ModelConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{d / CONFIG}: {e}") from e
    if task is not None and config.task != task:
        raise ModelFileError(f"{d} holds a {config.task!r} model, but a {task!r} model was asked for")
    pretrained_backbone = meta.get("backbone_weights") == "pretrained"
    if backbone is None:
        backbone = build_backbone(config.backbone, pretrained=pretrained_backbone, **config.backbone_kwargs)
    model = PixelNet(config=config, backbone=backbone)
    try:
        state = load_file(str(d / WEIGHTS))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{d / WEIGHTS} cannot be read: {e}") from e
    _load_state(model, state, skip_backbone=pretrained_backbone, where=d)
    model.backbone_weights = "pretrained" if pretrained_backbone else "include"  # how a derived head may be saved
    return model.to(device).eval()


def _load_state(model: PixelNet, state: Mapping[str, torch.Tensor], *, skip_backbone: bool, where: Path) -> None:
    expected = {k: v for k, v in model.state_dict().items()
                if not (skip_backbone and k.startswith("backbone."))}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")
        if wrong:
            parts.append(f"shape mismatch {wrong[:3]}")
        raise ModelFileError(f"weights in {where} do not fit its config: " + "; ".join(parts))
    ref = model.state_dict()
    model.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()}, strict=False)


def load_models(directories: Mapping[str, str | Path] | Sequence[str | Path], *,
                device: str | torch.device = "cpu") -> dict[str, PixelNet]:
    """Load several models, sharing one backbone among those saved with
    ``backbone="pretrained"`` and the same backbone config.

    Args:
        directories: task -> directory (tasks are checked), or a list of directories.

    Returns:
        task -> model.
    """
    items = list(directories.items()) if isinstance(directories, Mapping) else [(None, p) for p in directories]
    shared: dict[str, Backbone] = {}
    out: dict[str, PixelNet] = {}
    for task, path in items:
        meta = read_model_meta(path)
        key = None
        if meta.get("backbone_weights") == "pretrained":
            cfg = meta["config"]
            key = json.dumps([cfg.get("backbone"), cfg.get("backbone_kwargs", {})], sort_keys=True)
        model = load_model(path, task=task, device=device, backbone=shared.get(key) if key else None)
        if key:
            shared[key] = model.backbone
        out[model.task] = model
    return out
