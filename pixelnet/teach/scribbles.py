"""Train a segmentation head from a few labelled strokes: interactive pixel classification.

This is PixelNet's sparse training (Bansal et al. 2017, Sec. 3) applied to the pixels a user
painted, in the spirit of ilastik's Pixel Classification and scikit-image's trainable
segmentation, but on deep hypercolumns. The backbone is frozen, so each image's tap maps are
computed once (or handed in from a :class:`pixelnet.Predictor` cache) and every step only samples
hypercolumns at labelled pixels (stratified over the classes, as the engine's seg sampler does)
and updates the head with the engine's :class:`~pixelnet.engine.trainer.Trainer`.

Label convention: an ``(H, W)`` uint8 map where 0 is unlabelled and ``k`` (1..K) is class ``k``
(the index PNG of ``train/scribble.py`` and the explorer's Teach tab).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from pixelnet.backbones import Backbone, build_backbone
from pixelnet.device import pick_device
from pixelnet.engine.distributed import DistContext
from pixelnet.engine.trainer import OptimConfig, Trainer
from pixelnet.hypercolumn import HypercolumnTable
from pixelnet.losses import IGNORE_INDEX
from pixelnet.model import ModelConfig, PixelNet, build_model
from pixelnet.predictor import Predictor
from pixelnet.tasks import activate

__all__ = [
    "MAX_CLASSES", "ScribbleError", "ScribbleResult", "check_labels", "fit_scribbles", "predict_seg", "uncertainty",
]

MAX_CLASSES = 10
TABLE_LIMIT = 32_000_000  # floats (128 MB): above this many, labelled hypercolumns are not precomputed


class ScribbleError(ValueError):
    """The strokes cannot train a head (no strokes, one class, wrong size, out of range...)."""


@dataclass
class ScribbleResult:
    """A head trained from strokes.

    Attributes:
        model: the ``seg`` PixelNet (frozen backbone shared with the caller's, trained head).
        counts: labelled pixels per class (over all images), in class order.
        losses: training loss per step.
        seconds: wall time of the training steps (tap maps excluded when they were given).
    """

    model: PixelNet
    counts: list[int]
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def check_labels(image_shape: tuple[int, ...], labels: np.ndarray, num_classes: int, *, min_side: int = 1,
                 where: str = "") -> np.ndarray:
    """Validate one label map and return it as int64 ``(H, W)`` with classes 0..K-1 and 255 = unlabelled.

    Args:
        image_shape: shape of the image, ``(H, W[, C])``.
        labels: ``(H, W)`` integer map, 0 = unlabelled, ``k`` in 1..K = class ``k``.
        num_classes: K.
        min_side: the smallest image side the backbone accepts (its coarsest stride).
        where: name of the image for messages.

    Raises:
        ScribbleError: a map of another size, values out of 0..K, or an image below ``min_side``.
    """
    at = f" ({where})" if where else ""
    labels = np.asarray(labels)
    if labels.ndim == 3 and labels.shape[2] in (1, 3, 4) and (labels == labels[..., :1]).all():
        labels = labels[..., 0]  # a grey label image saved as RGB(A)
    if labels.ndim != 2:
        raise ScribbleError(f"labels{at} must be a single-channel index image, got shape {labels.shape}")
    h, w = image_shape[:2]
    if labels.shape != (h, w):
        raise ScribbleError(f"labels{at} are {labels.shape[1]}x{labels.shape[0]} but the image is {w}x{h}")
    if min(h, w) < min_side:
        raise ScribbleError(f"image{at} is {w}x{h}; this backbone needs at least {min_side} pixels per side "
                            f"(its coarsest tap has stride {min_side})")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ScribbleError(f"labels{at} must be integers, got {labels.dtype}")
    bad = np.unique(labels[(labels < 0) | (labels > num_classes)])
    if bad.size:
        raise ScribbleError(f"labels{at} contain values {bad[:5].tolist()} outside 0..{num_classes} "
                            f"(0 = unlabelled, 1..{num_classes} = the classes)")
    out = labels.astype(np.int64) - 1
    out[labels == 0] = IGNORE_INDEX
    return out


def predict_seg(model: PixelNet, features: Mapping[str, torch.Tensor], size: tuple[int, int], *,
                budget_mb: float = 64.0) -> np.ndarray:
    """Dense class probabilities of one image from its cached tap maps.

    Args:
        model: a ``seg`` model.
        features: tap maps of the image, name -> ``(1, C_t, h_t, w_t)`` (at least ``model``'s taps).
        size: ``(H, W)`` of the network input the maps were computed from.

    Returns:
        ``(K, H, W)`` float32 probabilities.
    """
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            y = activate("seg", model.dense(features, size, budget_mb=budget_mb))  # (1, K, H, W)
    finally:
        model.train(was)
    return y[0].float().cpu().numpy()


def uncertainty(probs: np.ndarray) -> np.ndarray:
    """Normalised entropy of ``(K, H, W)`` class probabilities: ``(H, W)`` in [0, 1] (1 = all classes equal),
    i.e. where painting more strokes would help most."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    h = -(p * np.log(p)).sum(0) / np.log(max(p.shape[0], 2))
    return np.clip(h, 0.0, 1.0).astype(np.float32)


def fit_scribbles(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    class_names: Sequence[str],
    backbone: str = "efficientnet_lite0",
    shared_backbone: Backbone | None = None,
    backbone_kwargs: Mapping[str, object] | None = None,
    taps: Sequence[str] | None = None,
    features: Sequence[Mapping[str, torch.Tensor]] | None = None,
    mlp_widths: Sequence[int] = (128, 64),
    dropout: float = 0.0,
    steps: int = 60,
    pixels_per_image: int = 1000,
    lr: float = 0.01,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> ScribbleResult:
    """Train a PixelNet ``seg`` head on the labelled pixels of one or more images.

    Deterministic for a given ``seed`` (head initialisation and pixel sampling); the backbone is
    frozen and shared, never updated.

    Args:
        images: ``(H_i, W_i, 3)`` uint8 RGB images.
        labels: per image an ``(H_i, W_i)`` integer map: 0 = unlabelled, ``k`` = class ``k`` (1..K).
        class_names: the K class names (2 to :data:`MAX_CLASSES`).
        backbone: a registered backbone name (built with its pretrained weights unless
            ``shared_backbone`` is given).
        shared_backbone: an already built backbone of that name to share (e.g. the explorer's).
        backbone_kwargs: shape-changing builder options recorded in the config (e.g. VGG ``width``).
        taps: tap names (None: all taps of the backbone), as for any model.
        features: optional cached tap maps per image (name -> ``(1, C_t, h_t, w_t)``, computed at the
            image's own size, e.g. ``Predictor.features``); computed here when None.
        mlp_widths: hidden widths of the MLP head.
        dropout: MLP dropout.
        steps: SGD steps.
        pixels_per_image: pixels sampled per image and step (stratified over the labelled classes).
        lr: head learning rate (SGD, momentum 0.9, as in the engine).
        seed: seed of the head's initialisation and of the pixel sampler.
        device: where to train.

    Returns:
        The trained model, per-class labelled-pixel counts, losses and training time.

    Raises:
        ScribbleError: unusable strokes or class names (see :func:`check_labels`).
    """
    names = [str(n).strip() for n in class_names]
    if not 2 <= len(names) <= MAX_CLASSES:
        raise ScribbleError(f"give 2 to {MAX_CLASSES} classes, got {len(names)}")
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ScribbleError(f"class names must be non-empty and distinct, got {names}")
    if len(images) != len(labels) or not images:
        raise ScribbleError(f"give one label map per image ({len(images)} images, {len(labels)} label maps)")
    if features is not None and len(features) != len(images):
        raise ScribbleError("give cached features for every image or for none")
    if steps < 1 or pixels_per_image < 1:
        raise ScribbleError("steps and pixels_per_image must be positive")
    dev = pick_device(device)  # a device this machine lacks: DeviceError, not a CUDA traceback
    bb = shared_backbone if shared_backbone is not None else build_backbone(
        backbone, pretrained=True, **dict(backbone_kwargs or {}))
    config = ModelConfig(task="seg", backbone=backbone, backbone_kwargs=dict(backbone_kwargs or {}),
                         taps=list(taps) if taps is not None else None,
                         head="mlp", mlp_widths=list(mlp_widths), dropout=dropout, class_names=names,
                         provenance={"trained_on": "scribbles", "steps": steps, "seed": seed,
                                     "pixels_per_image": pixels_per_image})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(config, backbone=bb)
    min_side = max(t.stride for t in model.taps)
    maps = [check_labels(np.shape(img), lab, len(names), min_side=min_side, where=f"image {i}")
            for i, (img, lab) in enumerate(zip(images, labels))]
    counts = [int(sum((m == k).sum() for m in maps)) for k in range(len(names))]
    if sum(counts) == 0:
        raise ScribbleError("no labelled pixels: paint at least one stroke for each of two classes")
    present = [n for n, c in zip(names, counts) if c]
    if len(present) < 2:
        raise ScribbleError(f"only {present[0]!r} is labelled; paint strokes of at least two classes")
    model.to(dev)
    if features is None:
        features = []
        for img in images:
            p = Predictor({"seg": model}, device=dev, max_side=max(np.shape(img)[:2]))
            p.set_image(img)
            features.append(p.features("seg"))
    items = []
    for f, m in zip(features, maps):
        mask = torch.from_numpy(m != IGNORE_INDEX)
        if not mask.any():
            continue
        feats = {t.name: f[t.name].to(dev) for t in model.taps}
        labels_t = {"seg": torch.from_numpy(m)[None].to(dev)}
        if int(mask.sum()) * sum(t.channels for t in model.taps) <= TABLE_LIMIT:
            items.append((HypercolumnTable(feats, model.taps, mask.to(dev)), labels_t))
        else:  # a huge stroke: interpolate at every step instead of holding every hypercolumn
            items.append((feats, labels_t))
    ctx = DistContext(rank=0, world_size=1, local_rank=0, device=dev)
    trainer = Trainer(model, ctx=ctx, optim=OptimConfig(lr=lr, weight_decay=5e-4), sampler="stratified",
                      pixels_per_image=pixels_per_image, freeze_backbone=True, seed=seed)
    losses = []
    t0 = time.perf_counter()
    for step in range(steps):
        losses.append(trainer.step_cached(items, step).loss)
    seconds = time.perf_counter() - t0
    model.eval()
    return ScribbleResult(model=model, counts=counts, losses=losses, seconds=seconds)
