"""PixelNet: a backbone with named taps, exact hypercolumn sampling and a per-pixel head.

Training evaluates the head only at sampled pixels (``forward`` with ``(b, y, x)``
coordinates); inference evaluates it at every pixel (``dense``), in row chunks and with
the first layer applied tap by tap at coarse resolution (:mod:`pixelnet.dense`). The two
paths agree to float precision (``tests/test_model.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .backbones import Backbone, build_backbone
from .dense import dense_apply
from .heads import build_head
from .hypercolumn import sample_hypercolumns, sample_tap
from .taps import TapInfo, parse_taps
from .tasks import TASKS, task_outputs

__all__ = ["ModelConfig", "PixelNet", "build_model"]


@dataclass
class ModelConfig:
    """Everything needed to rebuild a PixelNet model (saved as ``config.json``).

    Attributes:
        task: ``seg``, ``normals`` or ``edges``.
        backbone: registry name (see :data:`pixelnet.backbones.BACKBONES`).
        taps: tap names (None: all taps of the backbone).
        head: ``mlp`` or ``linear``.
        mlp_widths: hidden widths of the MLP head.
        dropout: MLP dropout.
        linear_bn: batch norm on the taps of the linear head.
        class_names: class names for ``seg`` (their count is K).
        backbone_kwargs: extra builder options that change shapes (e.g. VGG ``width``).
        provenance: free-form training record (command, data, iterations, metrics...).
        what: set on a *where* model (seg over ``background``, ``object``, ``person``): the teacher
            that names its objects at test time (``"imagenet-dense"``, :mod:`pixelnet.objects`).
        tta_scales: test-time augmentation the model was chosen with: every test scale ``s`` asked
            of :class:`pixelnet.Predictor` runs at ``s * r`` for each ``r`` here and the outputs
            are averaged (None: ``s`` alone).
        tta_mirror: also run every such pass on the mirrored image and average it in (mirrored back).
    """

    task: str
    backbone: str = "efficientnet_lite0"
    taps: list[str] | None = None
    head: str = "mlp"
    mlp_widths: list[int] = field(default_factory=lambda: [4096, 4096])
    dropout: float = 0.5
    linear_bn: bool = False
    class_names: list[str] | None = None
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    what: str | None = None
    tta_scales: list[float] | None = None
    tta_mirror: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose from {TASKS}")
        if self.tta_scales is not None:
            if not self.tta_scales or any(not float(r) > 0 for r in self.tta_scales):
                raise ValueError(f"tta_scales must be positive scales, not {self.tta_scales}")
            self.tta_scales = [float(r) for r in self.tta_scales]
        if not isinstance(self.tta_mirror, bool):
            raise ValueError(f"tta_mirror must be true or false, not {self.tta_mirror!r}")
        if self.task == "seg" and not self.class_names:
            raise ValueError("a seg model needs class_names")

    @property
    def num_outputs(self) -> int:
        return task_outputs(self.task, len(self.class_names or []))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; the test-time augmentation only when set (older readers refuse
        unknown keys, so a model without it stays loadable by them)."""
        d = asdict(self)
        for key, default in (("tta_scales", None), ("tta_mirror", False)):
            if d[key] == default:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        """Build from a dict; unknown keys are an error, not silently ignored."""
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**dict(d))


class PixelNet(nn.Module):
    """Backbone + hypercolumn + head for one task.

    Args:
        config: the model description.
        backbone: an already built backbone (e.g. shared with other tasks); built from
            ``config`` when omitted.
        pretrained: passed to the backbone builder when building it (ImageNet weights).
    """

    def __init__(self, *, config: ModelConfig, backbone: Backbone | None = None,
                 pretrained: bool = False) -> None:
        super().__init__()
        self.config = config
        if backbone is None:
            backbone = build_backbone(config.backbone, pretrained=pretrained, **config.backbone_kwargs)
        self.backbone = backbone
        names = parse_taps(config.taps, backbone.tap_names)
        config.taps = names
        self.taps: list[TapInfo] = [backbone.tap_info[n] for n in names]
        self.head = build_head(config.head, [t.channels for t in self.taps], config.num_outputs,
                               widths=config.mlp_widths, dropout=config.dropout, batch_norm=config.linear_bn)
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.std).view(1, 3, 1, 1), persistent=False)
        # "pretrained" when the backbone is the registry's unchanged pretrained one (set by load_model)
        self.backbone_weights = "include"

    @property
    def task(self) -> str:
        return self.config.task

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> backbone input."""
        return (images - self.mean) / self.std

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Tap maps of ``(B, 3, H, W)`` images in [0, 1]: name -> ``(B, C_t, h_t, w_t)``."""
        return self.backbone(self.normalize(images), [t.name for t in self.taps])

    def head_at(self, features: Mapping[str, torch.Tensor], coords: torch.Tensor) -> torch.Tensor:
        """Raw head outputs ``(P, K)`` at ``(P, 3)`` pixel coordinates ``(b, y, x)``.

        The head's first layer is linear and bilinear interpolation commutes with it, so the
        layer is applied per tap: a tap wider than the layer's D outputs and with fewer cells
        than sampled pixels (e.g. a 1,280-channel stride-32 map under a 128-wide layer) is
        projected to D channels first and then interpolated, so D-wide rows are gathered
        instead of C-wide ones; the others are interpolated first (gathering and scattering
        back the D-wide rows of a projected map costs more than a narrow tap's matmul;
        ``bench/bench_head_step.py``). Both orders give the hypercolumn result (exact up to
        rounding; ``tests/test_model.py``). A linear head with batch norm in training mode
        needs the hypercolumns' batch statistics and takes them.
        """
        if self.training and getattr(self.head, "norm", None) is not None:
            return self.head(sample_hypercolumns(features, self.taps, coords))
        w, bias = self.head.first_linear()
        coords = coords.to(device=bias.device, dtype=torch.long)
        if coords.ndim != 2 or coords.shape[1] != 3:
            raise ValueError(f"coords must be (P, 3) rows of (b, y, x), got shape {tuple(coords.shape)}")
        z = bias.expand(coords.shape[0], -1)
        for tap, wt in zip(self.taps, torch.split(w, [t.channels for t in self.taps], dim=1)):
            f = features[tap.name]
            if f.shape[1] > wt.shape[0] and f.shape[0] * f.shape[2] * f.shape[3] < coords.shape[0]:
                z = z + sample_tap(F.conv2d(f, wt[:, :, None, None].to(f.dtype)), coords, tap)
            else:
                z = z + sample_tap(f, coords, tap) @ wt.t().to(f.dtype)
        return self.head.after_first(z)

    def forward(self, images: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Sampled (training) path.

        Args:
            images: ``(B, 3, H, W)`` RGB in [0, 1].
            coords: ``(P, 3)`` int64 pixel coordinates ``(b, y, x)``.

        Returns:
            ``(P, K)`` raw outputs (logits / unnormalised normals).
        """
        return self.head_at(self.features(images), coords)

    def tap_weights(self) -> list[torch.Tensor]:
        """The head's first-layer weight split by tap: list of ``(D, C_t)``."""
        w, _ = self.head.first_linear()
        return list(torch.split(w, [t.channels for t in self.taps], dim=1))

    @torch.no_grad()
    def dense(self, features: Mapping[str, torch.Tensor], size: tuple[int, int], *,
              budget_mb: float = 64.0) -> torch.Tensor:
        """Dense (inference) path: raw outputs at every pixel.

        Args:
            features: tap maps of the image batch (from :meth:`features`).
            size: image size ``(H, W)``.
            budget_mb: memory budget of one row chunk.

        Returns:
            ``(B, K, H, W)`` raw outputs.
        """
        _, bias = self.head.first_linear()
        return dense_apply(features, self.taps, self.tap_weights(), bias, size, self.head.after_first,
                           budget_mb=budget_mb)


def build_model(config: ModelConfig, *, pretrained: bool = False, backbone: Backbone | None = None) -> PixelNet:
    """Build a PixelNet from a config (the single entry point used by train/demo/bench)."""
    return PixelNet(config=config, backbone=backbone, pretrained=pretrained)

