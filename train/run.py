"""Train one PixelNet task: ``python train/run.py --task seg --data synth --out runs/seg``.

Defaults are the paper's recipe (Bansal et al. 2017): 5 images x 2,000 sampled pixels per
step, SGD with momentum 0.9, weight decay 5e-4 and learning rate 1e-3, divided by 10 at
``--lr-steps``. ``--config FILE.yaml`` sets defaults (flags win); the resolved options are
written to ``OUT/train.yaml``. Outputs in ``--out``: ``model.safetensors`` + ``config.json``
(for the predictor, the demo and ``train/eval.py``), ``checkpoint.pt`` (``--resume``),
``train_log.csv``, ``val_log.csv`` and TensorBoard files in ``tb/``.

Runs unchanged under ``torchrun --nproc_per_node N train/run.py ...`` (one process per GPU,
or gloo on CPU); ``--images-per-batch`` is per process. See ``docs/training.md``.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from pixelnet import BACKBONES, ModelConfig, build_model
from pixelnet.backbones import BACKBONE_WEIGHTS
from pixelnet.data import DATASET_WHAT, TRAIN_DATASETS
from pixelnet.engine import (
    CHECKPOINT_NAME,
    VAL_SPLITS,
    Augment,
    CheckpointError,
    DataOrder,
    HelpFormatter,
    OptimConfig,
    Trainer,
    TrainSamples,
    UsageError,
    cleanup,
    dataset_class_names,
    derive_seed,
    fit,
    init_distributed,
    load_checkpoint,
    open_dataset,
    parse_args,
    restore_rng_state,
    run_cli,
    step_loader,
    write_resolved_config,
)
from pixelnet.evaluation import choose_val_size, evaluate
from pixelnet.progress import Progress, format_duration
from pixelnet.samplers import SAMPLER_TASKS, SAMPLERS
from pixelnet.tasks import TASKS

DEFAULT_SAMPLER = {"seg": "uniform", "normals": "uniform", "edges": "biased"}
# options that define the model, the data or the optimiser: a checkpoint must match them to be
# resumed (the schedule is restored from the checkpoint, so a changed one would be ignored)
RESUME_MUST_MATCH = ("task", "data", "train_split", "synth_size", "synth_length", "backbone", "taps", "head",
                     "mlp_width", "dropout", "linear_bn", "backbone_width", "fc_channels", "weights", "freeze_backbone",
                     "images_per_batch", "seed", "lr", "lr_steps", "lr_gamma", "head_lr_mult", "momentum",
                     "weight_decay")


def floats(text: str) -> list[float]:
    """``"0.5,1"`` -> ``[0.5, 1.0]``."""
    return [float(t) for t in str(text).split(",") if t.strip()]


def ints(text: str) -> list[int]:
    """``"8,16"`` -> ``[8, 16]``."""
    return [int(t) for t in str(text).split(",") if t.strip()]


def names(text: str) -> list[str]:
    """``"conv1_2,fc7"`` -> ``["conv1_2", "fc7"]``."""
    return [t.strip() for t in str(text).split(",") if t.strip()]


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=True,
                                formatter_class=HelpFormatter)
    p.add_argument("--config", help="YAML file of option defaults (command-line flags win)")
    g = p.add_argument_group("task and data")
    g.add_argument("--task", choices=TASKS, help="task to train (required)")
    g.add_argument("--data", choices=TRAIN_DATASETS, default="synth", help="training dataset")
    g.add_argument("--data-root", help="dataset folder (real datasets)")
    g.add_argument("--normal-signs", type=ints, default=None,
                   help="NYUv2: per-axis signs x,y,z applied to the stored normals, e.g. --normal-signs=-1,1,1, "
                   "when the files' frame differs from ours (x right, y down, z towards the camera)")
    g.add_argument("--train-split", default="train", help="split trained on")
    g.add_argument("--val-split", default=None, help="split validated on (default: per dataset)")
    g.add_argument("--synth-size", type=ints, default=[256, 256], help="SynthScenes and composites size H,W (or S)")
    g.add_argument("--synth-length", type=int, default=None,
                   help="number of SynthScenes training scenes (default: the whole split, 1,000,000)")
    g = p.add_argument_group("model")
    g.add_argument("--backbone", choices=sorted(BACKBONES), default="efficientnet_lite0", help="feature extractor")
    g.add_argument("--taps", type=names, default=None, help="comma-separated tap names (default: all)")
    g.add_argument("--head", choices=("mlp", "linear"), default="mlp", help="per-pixel head")
    g.add_argument("--mlp-width", type=ints, default=[4096], help="MLP hidden width(s); one = two layers")
    g.add_argument("--dropout", type=float, default=0.5, help="dropout of the MLP head")
    g.add_argument("--linear-bn", action="store_true", help="batch norm on the taps of the linear head")
    g.add_argument("--backbone-width", type=float, default=None, help="VGG channel multiplier (small models)")
    g.add_argument("--fc-channels", type=int, default=None, help="VGG fc6/fc7 channels (before width)")
    w = g.add_mutually_exclusive_group()
    g.add_argument("--weights", choices=sorted({w for ws in BACKBONE_WEIGHTS.values() for w in ws}), default=None,
                   help="weight set of the backbone (default: imagenet); vgg16 also has hed-bsds, HED's "
                   "offline VGG-16 conv1_1..conv5_3 (taps conv1_2..conv5_3, no fc6/fc7)")
    w.add_argument("--pretrained", dest="pretrained", action="store_true", default=True,
                   help="start from the --weights set")
    w.add_argument("--scratch", dest="pretrained", action="store_false", help="random initialisation")
    g.add_argument("--freeze-backbone", action="store_true", help="train the head only (BN stats frozen)")
    g.add_argument("--tta-scales", type=floats, default=None,
                   help="test-time augmentation recorded with the model: each test scale s also runs at s times "
                   "each of these, averaged (e.g. 0.75,1; default: none)")
    g.add_argument("--tta-mirror", action="store_true",
                   help="test-time augmentation recorded with the model: also average the mirrored image's output")
    g = p.add_argument_group("sampling and augmentation")
    g.add_argument("--images-per-batch", type=int, default=5, help="images per step and process")
    g.add_argument("--pixels-per-image", type=int, default=2000, help="pixels sampled per image and step")
    g.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="pixel sampler (default: uniform; biased for edges, as in the paper's Table 15)")
    g.add_argument("--pos-fraction", type=float, default=0.5, help="edge fraction of the biased sampler")
    g.add_argument("--scales", type=floats, default=[1.0], help="random scale per image, e.g. 0.5,1")
    g.add_argument("--crop", type=ints, default=None, help="random crop H,W (or S); default: pad")
    g.add_argument("--no-flip", dest="flip", action="store_false", help="no random horizontal flips")
    g.add_argument("--jitter", type=float, default=0.0, help="colour jitter strength (0.2 = +-20%%)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--lr", type=float, default=1e-3, help="SGD learning rate")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    g.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay")
    g.add_argument("--lr-steps", type=ints, default=[],
                   help="steps (epochs with --epochs) of lr decay by --lr-gamma (default: none, constant lr)")
    g.add_argument("--lr-gamma", type=float, default=0.1, help="lr factor at each of --lr-steps")
    g.add_argument("--head-lr-mult", type=float, default=1.0, help="lr multiplier of the head (e.g. 10)")
    n = g.add_mutually_exclusive_group()
    n.add_argument("--iters", type=int, default=None, help="training steps (default: 10000)")
    n.add_argument("--epochs", type=float, default=None, help="training length in epochs")
    g = p.add_argument_group("run")
    g.add_argument("--out", help="run folder (required)")
    g.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="continue from OUT/checkpoint.pt (or the given checkpoint)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                   help="float16 mixed precision (CUDA only)")
    g.add_argument("--seed", type=int, default=0, help="seed of the data order, sampling and initialisation")
    g.add_argument("--workers", type=int, default=2, help="data-loading processes per training process")
    g.add_argument("--threads", type=int, default=None, help="CPU threads of torch (default: torch's choice)")
    g.add_argument("--ckpt-every", type=int, default=500, help="checkpoint interval (steps)")
    g.add_argument("--val-every", type=int, default=0, help="validation interval (steps; 0: at the end)")
    g.add_argument("--val-limit", type=int, default=None,
                   help="validation images (default: as many as keep the final validation to about 10%% of the "
                   "training time, at most 1 min on a CPU; the log says how many)")
    g.add_argument("--no-val", dest="val", action="store_false", help="no validation")
    g.add_argument("--log-every", type=int, default=10, help="log-line interval when not on a terminal")
    g.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True,
                   help="TensorBoard logs in OUT/tb")
    return p


def _pair(v: list[int] | None, flag: str) -> tuple[int, int] | None:
    if v is None:
        return None
    if len(v) not in (1, 2) or min(v) < 1:
        raise UsageError(f"{flag} takes S or H,W with positive sizes, got {v}")
    return (v[0], v[-1])


def check_args(args: argparse.Namespace) -> None:
    """Option checks that need no file access (one-line :class:`UsageError`)."""
    if args.task is None:
        raise UsageError("--task is required (seg, normals or edges)")
    if not args.out:
        raise UsageError("--out is required (the run folder)")
    if args.sampler is None:
        args.sampler = DEFAULT_SAMPLER[args.task]
    if args.task not in SAMPLER_TASKS[args.sampler]:
        raise UsageError(f"--sampler {args.sampler} does not fit task {args.task!r}; "
                         f"it fits {list(SAMPLER_TASKS[args.sampler])}")
    if args.backbone.startswith("vgg") is False and (args.backbone_width or args.fc_channels):
        raise UsageError("--backbone-width/--fc-channels apply to the VGG backbones only")
    if args.weights is not None and args.weights not in BACKBONE_WEIGHTS[args.backbone]:
        raise UsageError(f"--weights {args.weights} does not fit --backbone {args.backbone}; "
                         f"it has {list(BACKBONE_WEIGHTS[args.backbone])}")
    if args.weights == "hed-bsds" and args.fc_channels:
        raise UsageError("--fc-channels does not apply to --weights hed-bsds (HED's VGG-16 has no fc6/fc7)")
    if not args.scales or min(args.scales) <= 0:
        raise UsageError("--scales must be positive numbers")
    if args.tta_scales is not None and (not args.tta_scales or min(args.tta_scales) <= 0):
        raise UsageError("--tta-scales must be positive numbers")
    for flag in ("images_per_batch", "pixels_per_image", "ckpt_every", "val_limit"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be >= 1")
    if args.seed < 0:
        raise UsageError("--seed must be >= 0")
    if args.freeze_backbone and not args.pretrained:
        print("warning: --freeze-backbone with --scratch trains a head on random features", file=sys.stderr)


def model_config(args: argparse.Namespace) -> ModelConfig:
    """The :class:`ModelConfig` the options describe."""
    widths = args.mlp_width * 2 if len(args.mlp_width) == 1 else list(args.mlp_width)
    kwargs: dict[str, Any] = {}
    if args.backbone_width is not None:
        kwargs["width"] = args.backbone_width
    if args.fc_channels is not None:
        kwargs["fc_channels"] = args.fc_channels
    if args.weights is not None and args.weights != BACKBONE_WEIGHTS[args.backbone][0]:
        kwargs["weights"] = args.weights  # recorded: a frozen backbone is rebuilt from these weights
    if DATASET_WHAT.get(args.data) and args.backbone != "efficientnet_lite0":
        raise UsageError(f"--data {args.data} trains a where model whose objects the ImageNet classifier of "
                         "efficientnet_lite0 names: use --backbone efficientnet_lite0")
    try:
        return ModelConfig(task=args.task, backbone=args.backbone, taps=args.taps, head=args.head,
                           mlp_widths=widths, dropout=args.dropout, linear_bn=args.linear_bn,
                           class_names=dataset_class_names(args.data, args.data_root) if args.task == "seg" else None,
                           backbone_kwargs=kwargs, what=DATASET_WHAT.get(args.data),
                           tta_scales=args.tta_scales, tta_mirror=args.tta_mirror)
    except ValueError as e:
        raise UsageError(str(e)) from e


def check_resume(ckpt: dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    """Refuse a checkpoint written for another model, task or data."""
    old = ckpt.get("args", {})
    diff = [f"--{k.replace('_', '-')} {old.get(k)!r} vs {getattr(args, k)!r}" for k in RESUME_MUST_MATCH
            if k in old and _plain(old[k]) != _plain(getattr(args, k))]
    if diff:
        raise CheckpointError(f"{path} was written by an incompatible run (checkpoint vs now: "
                              + "; ".join(diff) + ")")


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def main(args: argparse.Namespace) -> int:
    check_args(args)
    out = Path(args.out)
    ckpt_path = Path(args.resume) if args.resume and args.resume != "auto" else None
    if args.resume == "auto":
        ckpt_path = out / CHECKPOINT_NAME
    if ckpt_path is None and ((out / CHECKPOINT_NAME).exists() or (out / "model.safetensors").exists()):
        raise UsageError(f"{out} already holds a run: continue it with --resume, or choose another --out")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    size = _pair(args.synth_size, "--synth-size")
    crop = _pair(args.crop, "--crop")
    if args.threads:
        torch.set_num_threads(args.threads)
    ctx = init_distributed(args.device)
    try:
        train_set = open_dataset(args.data, task=args.task, split=args.train_split, root=args.data_root,
                                 synth_size=size, length=args.synth_length, normal_signs=args.normal_signs)
        val_set = None
        if args.val:
            val_set = open_dataset(args.data, task=args.task, split=args.val_split or VAL_SPLITS[args.data],
                                   root=args.data_root,
                                   purpose="eval", synth_size=size,
                                   length=args.val_limit if args.data in ("synth", "synth-real") else None,
                                   normal_signs=args.normal_signs)
        config = model_config(args)
        ckpt = load_checkpoint(ckpt_path) if ckpt_path is not None else None
        if ckpt is not None:
            check_resume(ckpt, args, ckpt_path)
        # nothing was written before this point: every check above leaves --out untouched
        order = DataOrder(len(train_set), args.images_per_batch, seed=args.seed, rank=ctx.rank,
                          world_size=ctx.world_size)
        per_epoch = order.steps_per_epoch()
        if args.epochs is not None:
            iters = math.ceil(args.epochs * per_epoch)
            lr_steps = [round(e * per_epoch) for e in args.lr_steps]
        else:
            iters = args.iters if args.iters is not None else 10000
            lr_steps = list(args.lr_steps)
        torch.manual_seed(args.seed)
        try:
            model = build_model(config, pretrained=args.pretrained)
        except (OSError, RuntimeError, ValueError, ImportError) as e:
            raise UsageError(f"cannot build backbone {args.backbone!r} (pretrained={args.pretrained}): "
                             f"{str(e).splitlines()[0]}; use --scratch or install the weights") from e
        trainer = Trainer(model, ctx=ctx, sampler=args.sampler, pixels_per_image=args.pixels_per_image,
                          pos_fraction=args.pos_fraction, freeze_backbone=args.freeze_backbone,
                          amp=args.amp, seed=args.seed,
                          optim=OptimConfig(lr=args.lr, momentum=args.momentum,
                                            weight_decay=args.weight_decay, head_lr_mult=args.head_lr_mult,
                                            lr_steps=lr_steps, gamma=args.lr_gamma))
        start, elapsed = 0, 0.0
        if ckpt is not None:
            try:
                trainer.load_state_dict(ckpt["trainer"])
            except (KeyError, RuntimeError, ValueError) as e:
                raise CheckpointError(f"{ckpt_path} does not fit this model: {str(e).splitlines()[0]}") from e
            start, elapsed = int(ckpt["step"]), float(ckpt.get("elapsed_s", 0.0))
            rng = ckpt.get("rng", [])
            if len(rng) == ctx.world_size:
                restore_rng_state(rng[ctx.rank])
            else:
                torch.manual_seed(derive_seed(args.seed, 3, ctx.rank, start))
                print(f"warning: resuming with {ctx.world_size} processes from a checkpoint of {len(rng)}: "
                      "random streams are reseeded", file=sys.stderr)
        else:
            torch.manual_seed(derive_seed(args.seed, 3, ctx.rank))  # per-rank dropout stream
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)
            write_resolved_config(args, out / "train.yaml")

        samples = TrainSamples(train_set, args.task,
                               Augment(scales=args.scales, crop=crop, flip=args.flip, jitter=args.jitter))

        def batches(first: int) -> DataLoader:
            return step_loader(samples, order, first, iters, workers=args.workers,
                               pin_memory=ctx.device.type == "cuda")

        val_size: dict[str, Any] = {"limit": args.val_limit, "train_s": 0.0}  # chosen at the first validation

        def before_validation(step: int, train_s: float) -> None:
            val_size["train_s"] = train_s

        def validate(m: torch.nn.Module) -> dict[str, float]:
            limit, budget = val_size["limit"], None
            cpu = ctx.device.type == "cpu"
            if limit is None:
                budget, _ = choose_val_size(train_s=val_size["train_s"], available=len(val_set), cpu=cpu)
            with Progress("validation", unit="image") as bar:
                bar.message(f"validating on {limit} images" if limit is not None else
                            "validating: the first image's time sets how many images fit in "
                            f"{format_duration(budget or 0)}")
                metrics = evaluate(m, val_set, limit=limit, device=ctx.device, progress=bar, budget_s=budget)
                if limit is None:
                    val_size["limit"] = bar.total
                    bar.message(f"validation size: {bar.total} of {len(val_set)} images, chosen to take about "
                                f"{format_duration(budget or 0.0)} (10% of the ~{format_duration(val_size['train_s'])}"
                                f" of training{', at most 1 min on a CPU' if cpu else ''}); "
                                f"--val-limit N sets it")
            return metrics

        provenance = {
            "command": shlex.join(["python", "train/run.py", *sys.argv[1:]]),  # no machine paths
            "args": {k: _plain(v) for k, v in vars(args).items()},
            "data": {"name": args.data, "split": args.train_split, "root": args.data_root,
                     "images": len(train_set)},
            "world_size": ctx.world_size,
            "torch": torch.__version__,
        }
        result = fit(trainer, batches, order, out=out, iters=iters, start=start, ckpt_every=args.ckpt_every,
                     val_every=args.val_every, validate=validate if val_set is not None else None,
                     save_backbone="pretrained" if args.freeze_backbone and args.pretrained else "include",
                     provenance=provenance, elapsed_before=elapsed, tensorboard=args.tensorboard,
                     log_every=args.log_every, on_validate=before_validation,
                     meta={"args": {k: _plain(v) for k, v in vars(args).items()},
                           "model_config": config.to_dict()})
    finally:
        cleanup(ctx)
    if result.signal is not None:
        return 128 + int(result.signal)
    if ctx.is_main:
        print(f"done: {result.step} steps in {result.elapsed_s:.1f} s; model in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, parse_args(get_args_parser()), prog="train/run.py"))
