"""Prior correction of a segmentation head trained on class-stratified pixels.

The ``stratified`` sampler (:func:`pixelnet.samplers.sample_stratified`) draws each image's
pixels evenly across the classes present in it. That keeps small classes in every batch, but
the head then learns the class posterior under the *sampled* class frequencies ``q``, not the
frequencies ``p`` of the pixels it is later applied to densely: on real-object composites,
where 87 % of the pixels are background, the stratified head paints objects over background.

Bayes' rule gives the exact fix when the sampler picks pixels uniformly within a class (as
``stratified`` does): ``log P_p(k | x) = log P_q(k | x) + log(p_k / q_k) + const``, so adding
``log(p_k / q_k)`` to the head's output bias turns it into the posterior under ``p`` (the
"logit adjustment" of Menon et al., *Long-tail learning via logit adjustment*, ICLR 2021,
applied post hoc). :func:`class_frequencies` measures ``p`` and ``q`` on training label maps by
running the sampler itself; :func:`add_output_bias` folds the shift into the head, so the
corrected model is an ordinary model file and the dense path needs nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor

from ..model import PixelNet
from ..samplers import SAMPLER_TASKS, sample_pixels

__all__ = ["add_output_bias", "class_frequencies", "prior_shift"]


def class_frequencies(label_maps: Iterable[np.ndarray | Tensor], num_classes: int, *, sampler: str = "stratified",
                      pixels_per_image: int = 2000, ignore_index: int = 255,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Class frequencies of all labelled pixels and of the pixels ``sampler`` draws from them.

    Args:
        label_maps: int ``[H, W]`` class maps (``ignore_index`` pixels are skipped).
        num_classes: K.
        sampler: a seg sampler of :data:`pixelnet.samplers.SAMPLERS` (``stratified``, ``uniform``).
        pixels_per_image: pixels the sampler draws per image, as in training.
        ignore_index: unlabelled value.
        generator: source of the sampler's randomness.

    Returns:
        ``(p, q)``: float64 ``(K,)`` each summing to 1, ``p`` over all labelled pixels and ``q``
        over the sampled ones.

    Raises:
        ValueError: a sampler that does not fit seg, K < 1, a label outside ``[0, K)``, or no
            labelled pixel at all.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if "seg" not in SAMPLER_TASKS.get(sampler, ()):
        raise ValueError(f"sampler {sampler!r} does not sample seg pixels")
    p = torch.zeros(num_classes, dtype=torch.float64)
    q = torch.zeros(num_classes, dtype=torch.float64)
    for labels in label_maps:
        t = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if t.ndim != 2:
            raise ValueError(f"label maps must be [H, W], got shape {tuple(t.shape)}")
        kept = t[t != ignore_index]
        if kept.numel() and (kept.min() < 0 or kept.max() >= num_classes):
            raise ValueError(f"labels must be in [0, {num_classes}) or {ignore_index}, "
                             f"got {kept.min().item()}..{kept.max().item()}")
        p += torch.bincount(kept, minlength=num_classes).double()
        byx = sample_pixels(sampler, {"seg": t[None]}, pixels_per_image, task="seg", generator=generator)
        picked = t[byx[:, 1], byx[:, 2]]
        q += torch.bincount(picked, minlength=num_classes).double()
    if p.sum() == 0 or q.sum() == 0:
        raise ValueError("no labelled pixel in the label maps")
    return p / p.sum(), q / q.sum()


def prior_shift(p: Tensor, q: Tensor) -> Tensor:
    """``log(p / q)`` per class, float32 ``(K,)``: the bias that turns a head trained under ``q``
    into one for ``p``; 0 for a class with no pixel in ``p`` or ``q`` (nothing to correct)."""
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"p and q must be (K,) of one shape, got {tuple(p.shape)} and {tuple(q.shape)}")
    both = (p > 0) & (q > 0)
    shift = torch.zeros_like(p, dtype=torch.float64)
    shift[both] = torch.log(p[both].double() / q[both].double())
    return shift.float()


def add_output_bias(model: PixelNet, shift: Tensor) -> None:
    """Add ``shift`` ``(K,)`` to the bias of the head's output layer, in place.

    Raises:
        ValueError: ``shift`` does not have one value per output.
    """
    layer = model.head.output_layer()
    if shift.shape != layer.bias.shape:
        raise ValueError(f"shift must be ({layer.bias.shape[0]},), got {tuple(shift.shape)}")
    with torch.no_grad():
        layer.bias.add_(shift.to(layer.bias))
