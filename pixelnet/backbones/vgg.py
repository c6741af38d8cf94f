"""VGG-16 backbones as used by PixelNet (Bansal et al. 2017, Sec. 4).

Taps ``conv1_2, conv2_2, conv3_3, conv4_3, conv5_3, fc7``. Following FCN (Long et al.)
and PixelNet's footnote 1, fc6 is a 7x7 convolution with padding 3 and fc7 a 1x1
convolution, so fc7 stays on the pool5 grid (stride 32, offset 15.5). ``vgg16_bn``
adds batch norm after every convolution for training from scratch (paper Sec. 4.3).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from ..taps import TapInfo
from .base import Backbone

__all__ = ["VGG16", "vgg16", "vgg16_bn", "load_torchvision_vgg16_state"]

# (block, number of 3x3 convs, channels); a 2x2/2 max pool precedes blocks 2..5 and fc6.
_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))


class VGG16(Backbone):
    """VGG-16 (optionally with batch norm) with fc6/fc7 as convolutions.

    Args:
        batch_norm: add BatchNorm2d after every convolution (``vgg16_bn``).
        width: channel multiplier (1.0 = the paper's network; smaller for tests/CPU).
        fc_channels: channels of fc6/fc7 before ``width`` (4096 in VGG-16).
    """

    def __init__(self, *, batch_norm: bool = False, width: float = 1.0, fc_channels: int = 4096) -> None:
        super().__init__()
        self.batch_norm = batch_norm
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        cin, stride = 3, 1
        for block, n, ch in _BLOCKS:
            ch = max(1, round(ch * width))
            if block > 1:
                layers[f"pool{block - 1}"] = nn.MaxPool2d(2, 2)
                stride *= 2
            for i in range(1, n + 1):
                name = f"conv{block}_{i}"
                layers[name] = self._conv_unit(cin, ch, 3, 1)
                cin = ch
            self.tap_info[f"conv{block}_{n}"] = TapInfo(f"conv{block}_{n}", ch, stride, (stride - 1) / 2)
        fc = max(1, round(fc_channels * width))
        layers["pool5"] = nn.MaxPool2d(2, 2)
        stride *= 2
        layers["fc6"] = self._conv_unit(cin, fc, 7, 3)
        layers["fc7"] = self._conv_unit(fc, fc, 1, 0)
        self.tap_info["fc7"] = TapInfo("fc7", fc, stride, (stride - 1) / 2)
        self.layers = nn.Sequential(layers)

    def _conv_unit(self, cin: int, cout: int, k: int, pad: int) -> nn.Sequential:
        mods: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=pad)]
        if self.batch_norm:
            mods.append(nn.BatchNorm2d(cout))
        mods.append(nn.ReLU(inplace=True))
        return nn.Sequential(*mods)

    def _forward_taps(self, x: torch.Tensor, wanted: list[str]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        last = wanted[-1]
        for name, layer in self.layers.named_children():
            x = layer(x)  # (B, C, H / s, W / s)
            if name in wanted:
                out[name] = x
            if name == last:
                break
        return out


def load_torchvision_vgg16_state(model: VGG16, state: dict[str, torch.Tensor]) -> None:
    """Copy a torchvision ``vgg16``/``vgg16_bn`` state dict into ``model``.

    The ``features.*`` tensors map in order onto the conv units; ``classifier.0`` and
    ``classifier.3`` (fc6, fc7) are reshaped into 7x7 and 1x1 convolution kernels.

    Raises:
        ValueError: if the state dict does not fit (wrong variant, width or shapes).
    """
    feats = [(k, v) for k, v in state.items() if k.startswith("features.")]
    mine = [(k, v) for k, v in model.state_dict().items() if not k.startswith(("layers.fc6", "layers.fc7"))]
    if len(feats) != len(mine):
        raise ValueError(
            f"state dict has {len(feats)} feature tensors, the model expects {len(mine)} "
            f"(batch_norm={model.batch_norm}); is it the right VGG variant?"
        )
    new: dict[str, torch.Tensor] = {}
    for (k_src, v), (k_dst, ref) in zip(feats, mine):
        if v.shape != ref.shape:
            raise ValueError(f"{k_src} has shape {tuple(v.shape)}, expected {tuple(ref.shape)} for {k_dst}")
        new[k_dst] = v
    fc6 = model.layers.fc6[0]
    fc7 = model.layers.fc7[0]
    try:
        new["layers.fc6.0.weight"] = state["classifier.0.weight"].reshape(fc6.weight.shape)
        new["layers.fc6.0.bias"] = state["classifier.0.bias"]
        new["layers.fc7.0.weight"] = state["classifier.3.weight"].reshape(fc7.weight.shape)
        new["layers.fc7.0.bias"] = state["classifier.3.bias"]
    except (KeyError, RuntimeError) as e:
        raise ValueError(f"cannot map the classifier (fc6/fc7) onto convolutions: {e}") from e
    missing = model.load_state_dict(new, strict=False).missing_keys
    bad = [k for k in missing if not k.startswith(("layers.fc6.1", "layers.fc7.1"))]
    if bad:
        raise ValueError(f"weights missing for {bad}")


def _build(batch_norm: bool, pretrained: bool | str | Path, width: float, fc_channels: int) -> VGG16:
    model = VGG16(batch_norm=batch_norm, width=width, fc_channels=fc_channels)
    if not pretrained:
        for m in model.modules():  # random Gaussian init, as for the paper's tabula-rasa runs
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        return model
    if isinstance(pretrained, (str, Path)):
        state = torch.load(pretrained, map_location="cpu", weights_only=True)
    else:  # torchvision downloads VGG16_Weights.IMAGENET1K_V1 into its cache (needs network once)
        import torchvision

        builder = torchvision.models.vgg16_bn if batch_norm else torchvision.models.vgg16
        weights = "IMAGENET1K_V1"
        state = builder(weights=weights).state_dict()
    load_torchvision_vgg16_state(model, state)
    return model


def vgg16(*, pretrained: bool | str | Path = False, width: float = 1.0, fc_channels: int = 4096) -> VGG16:
    """VGG-16. ``pretrained``: True (torchvision ImageNet weights), a path to a
    torchvision-format state dict, or False (random Gaussian init)."""
    return _build(False, pretrained, width, fc_channels)


def vgg16_bn(*, pretrained: bool | str | Path = False, width: float = 1.0, fc_channels: int = 4096) -> VGG16:
    """VGG-16 with batch norm (for training from scratch). Same ``pretrained`` options."""
    return _build(True, pretrained, width, fc_channels)
