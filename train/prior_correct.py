"""Correct a stratified seg head for its training class prior:
``python train/prior_correct.py --model runs/seg --out runs/seg_prior``.

A head trained with ``--sampler stratified`` sees every class in about equal shares per image,
so applied densely it over-predicts the small classes (see :mod:`pixelnet.engine.prior`). This
reads the training dataset, sampler and pixel count recorded in the model's ``config.json``,
measures on ``--images`` training samples the class frequencies of all pixels (``p``) and of the
pixels that sampler draws (``q``), adds ``log(p / q)`` to the head's output bias and writes the
corrected model to ``--out``, with the frequencies and the shift under
``provenance.prior_correction``. The input model is left unchanged.

Runs on the CPU in seconds (no network is evaluated). ``--data-root`` replaces the recorded
dataset folder when the data is elsewhere on this machine.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from pixelnet.engine import (
    HelpFormatter,
    UsageError,
    add_output_bias,
    class_frequencies,
    dataset_class_names,
    open_dataset,
    prior_shift,
    run_cli,
)
from pixelnet.io import load_model, read_model_meta, save_model
from pixelnet.progress import Progress


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--model", required=True, help="seg model folder trained by train/run.py")
    p.add_argument("--out", required=True, help="folder for the corrected model (must not hold a model)")
    p.add_argument("--images", type=int, default=300, help="training samples the frequencies are measured on")
    p.add_argument("--data-root", help="dataset folder, instead of the one recorded in the model")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler's draws")
    return p


def main(args: argparse.Namespace) -> int:
    if args.images < 1:
        raise UsageError("--images must be >= 1")
    out = Path(args.out)
    if (out / "model.safetensors").exists():
        raise UsageError(f"{out} already holds a model; choose another --out")
    if out.resolve() == Path(args.model).resolve():
        raise UsageError("--out must differ from --model (the input model is left unchanged)")
    model = load_model(args.model)
    if model.task != "seg":
        raise UsageError(f"{args.model} is a {model.task!r} model; the prior correction is for seg heads")
    prov = dict(model.config.provenance or {})
    if "prior_correction" in prov:
        raise UsageError(f"{args.model} is already prior-corrected")
    rec = prov.get("args") or {}
    if not rec.get("data"):
        raise UsageError(f"{args.model}/config.json records no training data (provenance.args.data)")
    sampler = rec.get("sampler", "uniform")
    if sampler == "uniform":
        print("note: the model was trained with uniform sampling; its prior needs (almost) no correction",
              file=sys.stderr)
    size = rec.get("synth_size") or [256, 256]
    root = args.data_root or rec.get("data_root")
    classes = dataset_class_names(rec["data"], root)
    if list(model.config.class_names or []) != classes:  # e.g. real-categories has gained `tool` since
        raise UsageError(f"{args.model}'s classes {list(model.config.class_names or [])} are not those of "
                         f"--data {rec['data']} now ({classes}): its labels would be counted as other classes")
    dataset = open_dataset(rec["data"], task="seg", split=rec.get("train_split", "train"),
                           root=root, synth_size=(size[0], size[-1]),
                           length=args.images if rec["data"] in ("synth", "synth-real") else None)
    n = min(args.images, len(dataset))
    gen = torch.Generator().manual_seed(args.seed)
    with Progress("class frequencies", total=n, unit="image") as bar:
        def maps():
            for i in range(n):
                yield dataset[i]["seg"]
                bar.update(1)
        p, q = class_frequencies(maps(), model.config.num_outputs, sampler=sampler,
                                 pixels_per_image=int(rec.get("pixels_per_image", 2000)), generator=gen)
    shift = prior_shift(p, q)
    add_output_bias(model, shift)
    names = list(model.config.class_names or range(len(shift)))
    prov["prior_correction"] = {
        "command": shlex.join(["python", "train/prior_correct.py", *sys.argv[1:]]),
        "from": str(args.model), "images": n, "sampler": sampler, "seed": args.seed,
        "pixel_freq": {str(c): round(float(v), 6) for c, v in zip(names, p)},
        "sampled_freq": {str(c): round(float(v), 6) for c, v in zip(names, q)},
        "bias_shift": {str(c): round(float(v), 6) for c, v in zip(names, shift)},
    }
    before = prov.pop("metrics", None)  # the run's final validation, before the correction
    if before is not None:
        prov["prior_correction"]["metrics_before"] = before
    model.config.provenance = prov
    backbone = read_model_meta(args.model).get("backbone_weights", "include")
    save_model(model, out, backbone=backbone)
    width = max(len(str(c)) for c in names)
    print(f"  {'class':<{width}}  {'pixels':>8}  {'sampled':>8}  {'bias +':>7}")
    for c, a, b, s in zip(names, p.tolist(), q.tolist(), shift.tolist()):
        print(f"  {str(c):<{width}}  {100 * a:7.2f}%  {100 * b:7.2f}%  {s:+7.3f}")
    print(f"corrected model in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, get_args_parser().parse_args(), prog="train/prior_correct.py"))
