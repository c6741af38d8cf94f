"""One PixelNet training step, and the optimisation state around it.

The step follows the paper (Bansal et al. 2017, Sec. 3): a batch of images goes through the
backbone once, a sparse set of pixels is sampled per image (fresh at every step), the head
runs on the hypercolumns at those pixels only, and the task loss is computed there. The
optimiser is the paper's: SGD with momentum 0.9, weight decay 5e-4, learning rate 1e-3
divided by 10 at given steps, optionally with a larger learning rate for the head.

Under ``torchrun`` the model is wrapped in ``DistributedDataParallel``; the loss value and the
stop request are summed over ranks every step, so all ranks stop together (on a non-finite
loss or a signal) and never wait on each other in a collective.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from ..hypercolumn import HypercolumnTable
from ..losses import build_loss
from ..model import PixelNet
from ..samplers import sample_pixels
from .batching import gather_targets
from .distributed import DistContext, all_reduce_sum
from .order import derive_seed

__all__ = ["NonFiniteLossError", "OptimConfig", "StepResult", "Trainer", "step_seed"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class OptimConfig:
    """SGD settings (defaults: the paper's).

    Attributes:
        lr: base learning rate.
        momentum: SGD momentum.
        weight_decay: L2 weight decay.
        head_lr_mult: learning-rate multiplier of the head (e.g. 10 for a new head on a
            pretrained backbone).
        lr_steps: steps at which the learning rate is multiplied by ``gamma``.
        gamma: decay factor.
    """

    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    head_lr_mult: float = 1.0
    lr_steps: Sequence[int] = field(default_factory=tuple)
    gamma: float = 0.1


@dataclass
class StepResult:
    """What one step did, summed/averaged over all ranks.

    Attributes:
        loss: mean loss over ranks.
        pixels: sampled pixels over ranks.
        images: images over ranks.
        stop: some rank asked to stop (signal).
    """

    loss: float
    pixels: int
    images: int
    stop: bool


def step_seed(seed: int, step: int, rank: int) -> int:
    """Seed of the pixel sampler at ``step`` on ``rank`` (stateless, hence resumable)."""
    return derive_seed(seed, 2, step, rank)


class Trainer:
    """Owns the model (DDP-wrapped when distributed), optimiser, scheduler and loss.

    Args:
        model: the model to train (moved to ``ctx.device``).
        ctx: distributed context.
        optim: optimiser settings.
        sampler: pixel sampler name (see :data:`pixelnet.samplers.SAMPLERS`).
        pixels_per_image: pixels sampled per image.
        pos_fraction: edge fraction of the ``biased`` sampler.
        freeze_backbone: train the head only; the backbone keeps its weights and its batch
            norm statistics (eval mode).
        amp: float16 autocast with gradient scaling (CUDA only).
        seed: run seed (pixel sampling).
    """

    def __init__(self, model: PixelNet, *, ctx: DistContext, optim: OptimConfig, sampler: str = "uniform",
                 pixels_per_image: int = 2000, pos_fraction: float = 0.5, freeze_backbone: bool = False,
                 amp: bool = False, seed: int = 0) -> None:
        self.model = model.to(ctx.device)
        self.ctx = ctx
        self.task = model.task
        self.sampler, self.pixels_per_image, self.pos_fraction = sampler, pixels_per_image, pos_fraction
        self.freeze_backbone = freeze_backbone
        self.seed = seed
        self.amp = amp and ctx.device.type == "cuda"
        self.head_lr_mult = optim.head_lr_mult
        if freeze_backbone:
            for p in model.backbone.parameters():
                p.requires_grad_(False)
        self.net: torch.nn.Module = model
        if ctx.distributed:
            # taps that stop before the backbone's last layer leave parameters unused
            unused = not freeze_backbone and model.taps[-1].name != model.backbone.tap_names[-1]
            self.net = DistributedDataParallel(
                model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                find_unused_parameters=unused)
        groups = [{"params": [p for p in model.head.parameters() if p.requires_grad],
                   "lr": optim.lr * optim.head_lr_mult, "name": "head"}]
        backbone_params = [p for p in model.backbone.parameters() if p.requires_grad]
        if backbone_params:
            groups.append({"params": backbone_params, "lr": optim.lr, "name": "backbone"})
        self.optimizer = torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum,
                                         weight_decay=optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=sorted(optim.lr_steps), gamma=optim.gamma)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.loss_fn = build_loss(self.task)
        self.train_mode()

    def train_mode(self) -> None:
        """Model in training mode (a frozen backbone stays in eval mode)."""
        self.model.train()
        if self.freeze_backbone:
            self.model.backbone.eval()

    @property
    def lr(self) -> float:
        """Current base learning rate (``--lr`` after decays; the head's is ``head_lr_mult`` times it)."""
        return float(self.scheduler.get_last_lr()[0]) / self.head_lr_mult

    def loss(self, raw: Tensor, targets: dict[str, Tensor]) -> Tensor:
        """Task loss of ``(P, K)`` raw outputs against :func:`gather_targets` output."""
        raw = raw.float()
        if self.task == "normals":
            return self.loss_fn(raw, targets["target"], targets["valid"])
        if self.task == "edges":
            return self.loss_fn(raw[:, 0], targets["target"])
        return self.loss_fn(raw, targets["target"])

    def step(self, batch: dict[str, Tensor], step: int, *, stop_requested: bool = False) -> StepResult:
        """One SGD step on a collated batch (CPU tensors from :func:`pixelnet.engine.batching.collate`).

        Raises:
            NonFiniteLossError: the loss (on any rank) is NaN or infinite; no update is made.
        """
        gen = torch.Generator().manual_seed(step_seed(self.seed, step, self.ctx.rank))
        coords = sample_pixels(self.sampler, batch, self.pixels_per_image, task=self.task,
                               pos_fraction=self.pos_fraction, generator=gen)  # (P, 3)
        dev = self.ctx.device
        targets = gather_targets(batch, self.task, coords)
        targets = {k: v.to(dev, non_blocking=True) for k, v in targets.items()}
        images = batch["image"].to(dev, non_blocking=True)  # (B, 3, H, W)
        with torch.autocast(dev.type, dtype=torch.float16, enabled=self.amp):
            raw = self.net(images, coords.to(dev))  # (P, K)
        return self._update(self.loss(raw, targets), coords.shape[0], images.shape[0], step, stop_requested)

    def step_cached(self, items: Sequence[tuple[Mapping[str, Tensor] | HypercolumnTable, dict[str, Tensor]]],
                    step: int) -> StepResult:
        """One SGD step of the head on cached tap maps (frozen backbone, one process).

        The same sampler, loss and optimiser as :meth:`step`, but the backbone does not run: each
        image's tap maps were computed once (e.g. by :class:`pixelnet.Predictor`), so images of
        different sizes can share a step (their pixels are sampled and gathered per image).

        Args:
            items: per image, ``(source, labels)``: ``source`` is the tap maps (name ->
                ``(1, C_t, h_t, w_t)``) or a :class:`~pixelnet.hypercolumn.HypercolumnTable` of the
                labelled pixels; ``labels`` holds the ``(1, H, W)`` label tensors of the task
                (``seg``: int64, 255 = ignore).
            step: step index (seeds the pixel sampler).

        Raises:
            NonFiniteLossError: the loss is NaN or infinite; no update is made.
        """
        if not self.freeze_backbone or self.ctx.distributed:
            raise ValueError("step_cached trains a head on cached features: freeze the backbone, one process")
        gen = torch.Generator().manual_seed(step_seed(self.seed, step, self.ctx.rank))
        dev = self.ctx.device
        raws, targets_list = [], []
        for feats, labels in items:
            coords = sample_pixels(self.sampler, labels, self.pixels_per_image, task=self.task,
                                   pos_fraction=self.pos_fraction, generator=gen)  # (P_i, 3), b = 0
            targets_list.append(gather_targets(labels, self.task, coords))
            with torch.autocast(dev.type, dtype=torch.float16, enabled=self.amp):
                if isinstance(feats, HypercolumnTable):
                    raws.append(self.model.head(feats.gather(coords.to(dev))))  # (P_i, K)
                else:
                    raws.append(self.model.head_at(feats, coords.to(dev)))
        raw = torch.cat(raws)
        targets = {k: torch.cat([t[k] for t in targets_list]).to(dev) for k in targets_list[0]}
        return self._update(self.loss(raw, targets), raw.shape[0], len(items), step, False)

    def _update(self, loss: Tensor, pixels: int, images: int, step: int, stop_requested: bool) -> StepResult:
        """Reduce the loss over ranks, refuse a non-finite one, and make the SGD update."""
        dev = self.ctx.device
        summary = all_reduce_sum(torch.tensor([loss.item(), pixels, images,
                                               float(stop_requested)], dtype=torch.float64,
                                              device=dev if dev.type == "cuda" else "cpu"), self.ctx)
        mean_loss = float(summary[0]) / self.ctx.world_size
        if not np.isfinite(mean_loss):
            raise NonFiniteLossError(f"the loss is {mean_loss} at step {step + 1}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return StepResult(loss=mean_loss, pixels=int(summary[1]), images=int(summary[2]),
                          stop=bool(summary[3]))

    def params_finite(self) -> bool:
        """All model parameters are finite (checked before a checkpoint is written)."""
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def checksum(self) -> float:
        """A float64 fingerprint of the parameters (equal on all ranks while replicas stay in sync)."""
        with torch.no_grad():
            return float(sum(p.detach().double().abs().sum() for p in self.model.parameters()))

    def state_dict(self) -> dict[str, Any]:
        """Model, optimiser, scheduler and scaler states (tensors and plain types)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (raises ``RuntimeError``/``ValueError`` when it does not fit)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
