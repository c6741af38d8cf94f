"""The lab of ``train/experiments.py``: the shared settings, the scenes rendered once, and one
variant trained and evaluated with the library's engine (:func:`pixelnet.engine.fit`,
:func:`pixelnet.evaluation.evaluate`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import Dataset

from pixelnet import ModelConfig, build_model
from pixelnet.data import SYNTH_CLASSES, SynthScenes
from pixelnet.engine import (
    Augment,
    ConfigError,
    DataOrder,
    OptimConfig,
    Trainer,
    TrainingStopped,
    TrainSamples,
    evaluate,
    fit,
    init_distributed,
    step_loader,
)
from pixelnet.progress import Progress, format_duration, read_log

METRIC = {"seg": ("miou", "mIoU", 100.0), "edges": ("ods", "ODS", 1.0)}  # key, label, display scale


@dataclass
class Settings:
    """The shared experiment settings (written to RESULTS.md and results.json)."""

    size: int = 64
    train_scenes: int = 200
    val_scenes: int = 30
    edge_val_scenes: int = 15
    edge_thresholds: int = 15
    backbone: str = "efficientnet_lite0"
    taps: tuple[str, ...] = ("s2", "s4", "s8", "s16", "s32")
    pretrained: bool = True
    weights: str = ""  # a named weight set of the backbone (e.g. vgg16's "hed-bsds"); "" = its default
    mlp_width: int = 128
    lr: float = 1e-3
    head_lr_mult: float = 10.0
    iters: int = 100
    iters_t1: int = 60
    evals: int = 3
    images: int = 5
    pixels: int = 164  # per image: 4% of a 64 x 64 image, as the paper's 2,000 of 224 x 224
    seed: int = 0


QUICK = dict(size=32, train_scenes=6, val_scenes=2, edge_val_scenes=2, edge_thresholds=5, iters=2,
             iters_t1=2, evals=1, pixels=10, mlp_width=16, pretrained=False)


def load_settings(path: str | Path, base: Settings) -> Settings:
    """``base`` with the fields a YAML file sets (``configs/experiments/*.yaml``).

    Raises:
        ConfigError: unreadable file, not a mapping, an unknown field or a value of the wrong type.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read settings {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of setting: value")
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ConfigError(f"{path}: unknown setting {key!r}; known: {sorted(known)}")
        current = getattr(base, name)
        if isinstance(current, tuple):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            value = tuple(value) if ok else value
        elif isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        else:
            ok = type(value) is type(current)
        if not ok:
            raise ConfigError(f"{path}: {key!r} must be a {type(current).__name__}, not {value!r}")
        values[name] = value
    return replace(base, **values)


class InMemory(Dataset):
    """Samples rendered once and kept (every variant trains on exactly the same scenes)."""

    def __init__(self, dataset: Dataset, desc: str = "rendering scenes") -> None:
        with Progress(desc, total=len(dataset), unit="scene") as bar:
            self.items = []
            for i in range(len(dataset)):
                self.items.append(dataset[i])
                bar.update(1)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


class Lab:
    """Trains and evaluates the variants of the findings on one shared data set."""

    def __init__(self, st: Settings, out: Path, overall: Progress | None = None) -> None:
        self.st, self.out, self.overall = st, out, overall
        size = (st.size, st.size)
        t = time.perf_counter()
        self.train = InMemory(SynthScenes("train", size=size, length=st.train_scenes), "rendering train scenes")
        self.val = InMemory(SynthScenes("val", size=size, length=st.val_scenes), "rendering val scenes")
        print(f"rendered {st.train_scenes} + {st.val_scenes} scenes in {time.perf_counter() - t:.0f} s",
              flush=True)
        self.ctx = init_distributed("cpu")

    def run(self, name: str, task: str, *, head: str = "mlp", linear_bn: bool = False, sampler: str = "uniform",
            pixels: int | None = None, images: int | None = None, pos_fraction: float = 0.5,
            iters: int | None = None) -> dict[str, Any]:
        """Train one variant with the engine; returns its final metric, curves and cost."""
        st = self.st
        iters = iters or st.iters
        pixels = pixels or st.pixels
        images = images or st.images
        out = self.out / "runs" / name
        out.mkdir(parents=True, exist_ok=True)
        for f in ("checkpoint.pt", "model.safetensors", "train_log.csv", "val_log.csv"):
            (out / f).unlink(missing_ok=True)  # every invocation starts fresh
        torch.manual_seed(st.seed)
        cfg = ModelConfig(task=task, backbone=st.backbone, taps=list(st.taps), head=head,
                          mlp_widths=[st.mlp_width] * 2, linear_bn=linear_bn,
                          class_names=list(SYNTH_CLASSES) if task == "seg" else None,
                          backbone_kwargs={"weights": st.weights} if st.weights else {})
        model = build_model(cfg, pretrained=st.pretrained)
        trainer = Trainer(model, ctx=self.ctx, sampler=sampler, pixels_per_image=pixels,
                          pos_fraction=pos_fraction, freeze_backbone=True, seed=st.seed,
                          optim=OptimConfig(lr=st.lr, head_lr_mult=st.head_lr_mult))
        order = DataOrder(len(self.train), images, seed=st.seed)
        samples = TrainSamples(self.train, task, Augment(flip=True))
        limit = st.edge_val_scenes if task == "edges" else st.val_scenes
        meter = {"thresholds": st.edge_thresholds} if task == "edges" else None

        def validate(m: torch.nn.Module) -> dict[str, float]:
            with Progress(f"  {name} validation", unit="image", every_s=30.0) as bar:
                return evaluate(m, self.val, limit=limit, device="cpu", meter_kwargs=meter, progress=bar)

        t = time.perf_counter()
        note = ""
        try:
            fit(trainer, lambda first: step_loader(samples, order, first, iters), order, out=out, iters=iters,
                ckpt_every=iters, val_every=max(1, iters // st.evals), validate=validate,
                save_backbone="pretrained" if st.pretrained else "include", tensorboard=False,
                log_every=max(1, iters // 4), provenance={"experiment": name})
        except TrainingStopped as e:  # e.g. a NaN loss: report it, evaluate the last good weights
            note = f"stopped: {str(e).split(';')[0]}"
        seconds = time.perf_counter() - t
        val = read_log(out / "val_log.csv") if (out / "val_log.csv").exists() else []
        loss = read_log(out / "train_log.csv") if (out / "train_log.csv").exists() else []
        key = METRIC[task][0]
        if note or not val:
            final = validate(model)[key]
            val.append({"step": str(len(loss)), key: str(final)})
        res = {"name": name, "task": task, "metric": key, "final": float(val[-1][key]),
               "curve": [(int(r["step"]), float(r[key])) for r in val],
               "loss": [(int(r["step"]), float(r["loss"])) for r in loss],
               "seconds": seconds, "note": note}
        shown = METRIC[task][2] * res["final"]
        print(f"  {name:<22} {METRIC[task][1]} {shown:.3f}  ({seconds:.0f} s){'  ' + note if note else ''}",
              flush=True)
        if self.overall is not None:
            self.overall.update(1, note=f"last: {name}, {format_duration(seconds)}")
        return res
