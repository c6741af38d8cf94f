"""The sampled (training) path and the dense (inference) path agree at every pixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_BACKBONE_KWARGS

from pixelnet import ModelConfig, build_model
from pixelnet.backbones import BACKBONES
from pixelnet.hypercolumn import sample_hypercolumns, sample_tap
from pixelnet.predictor import Predictor

CLASSES = ["a", "b", "c", "d"]


def _model(backbone="vgg16", task="seg", head="mlp", **kw):
    bkw = {k: v for k, v in TINY_BACKBONE_KWARGS[backbone].items() if k != "pretrained"}
    cfg = ModelConfig(task=task, backbone=backbone, head=head, mlp_widths=[32, 16],
                      class_names=CLASSES if task == "seg" else None, backbone_kwargs=bkw, **kw)
    model = build_model(cfg).eval()
    if head == "linear" and cfg.linear_bn:  # non-trivial running statistics to fold
        model.head.norm.running_mean.uniform_(-1, 1)
        model.head.norm.running_var.uniform_(0.5, 2)
    return model


def _all_coords(b, h, w):
    bb, yy, xx = torch.meshgrid(torch.arange(b), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([bb.flatten(), yy.flatten(), xx.flatten()], 1)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize(("head", "bn"), [("mlp", False), ("linear", False), ("linear", True)])
@pytest.mark.parametrize("size", [(97, 131), (40, 33)])
def test_sampled_equals_dense(backbone, head, bn, size):
    model = _model(backbone, head=head, linear_bn=bn)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        feats = model.features(x)
        dense = model.dense(feats, size, budget_mb=0.05)  # tiny budget: many row chunks
        sampled = model.head_at(feats, _all_coords(2, *size))
    sampled = sampled.view(2, *size, -1).permute(0, 3, 1, 2)
    assert dense.shape == sampled.shape == (2, len(CLASSES), *size)
    assert float((dense - sampled).abs().max()) <= 1e-4


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize(("head", "bn"), [("mlp", False), ("linear", False), ("linear", True)])
# few pixels: every tap is interpolated first; many: the coarse taps are projected first
@pytest.mark.parametrize("pixels", [3, 700])
def test_per_tap_first_layer_equals_the_head_on_hypercolumns_with_gradients(backbone, head, bn, pixels):
    model = _model(backbone, head=head, linear_bn=bn).train()
    x = torch.rand(2, 3, 45, 38, requires_grad=True)
    g = torch.Generator().manual_seed(pixels)
    coords = torch.stack([torch.randint(0, 2, (pixels,), generator=g), torch.randint(0, 45, (pixels,), generator=g),
                          torch.randint(0, 38, (pixels,), generator=g)], 1)
    feats = model.features(x)
    if head == "mlp":  # dropout off, so both paths see the same function
        model.head.rest.eval()
    fast = model.head_at(feats, coords)
    ref = model.head(sample_hypercolumns(feats, model.taps, coords))
    assert float((fast - ref).detach().abs().max()) <= 1e-4
    w = torch.randn_like(ref)
    grads_fast = torch.autograd.grad((fast * w).sum(), [x, *model.head.parameters()], retain_graph=True)
    grads_ref = torch.autograd.grad((ref * w).sum(), [x, *model.head.parameters()])
    for a, b in zip(grads_fast, grads_ref):
        assert float((a - b).abs().max()) <= 1e-3 * max(1.0, float(b.abs().max()))


def test_sample_tap_interpolates_between_the_four_cells_in_b_y_x_order():
    from pixelnet.taps import TapInfo
    feat = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    tap = TapInfo(name="t", stride=2, offset=0.5, channels=3)
    # pixel (y, x) = (2, 3) is at cell coordinates u = 0.75 (rows 0, 1), v = 1.25 (columns 1, 2);
    # (0, 0) clamps to cell (0, 0)
    coords = torch.tensor([[1, 2, 3], [0, 0, 0]])
    out = sample_tap(feat, coords, tap)
    u, v = (2 - 0.5) / 2, (3 - 0.5) / 2  # 0.75, 1.25
    ref = (feat[1, :, 0, 1] * (1 - u) * (1 - (v - 1)) + feat[1, :, 0, 2] * (1 - u) * (v - 1)
           + feat[1, :, 1, 1] * u * (1 - (v - 1)) + feat[1, :, 1, 2] * u * (v - 1))
    assert torch.allclose(out[0], ref) and torch.allclose(out[1], feat[0, :, 0, 0])


@pytest.mark.parametrize("task", ["seg", "normals", "edges"])
def test_forward_shapes_and_backward(task):
    model = _model(task=task).train()
    coords = torch.tensor([[0, 0, 0], [1, 63, 63], [1, 10, 20]])
    out = model(torch.rand(2, 3, 64, 64), coords)
    assert out.shape == (3, model.config.num_outputs)
    out.sum().backward()
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)


def test_config_rejects_bad_input():
    with pytest.raises(ValueError):
        ModelConfig(task="depth")
    with pytest.raises(ValueError):
        ModelConfig(task="seg")  # no class names
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({"task": "edges", "typo": 1})
    with pytest.raises(ValueError, match="unknown tap"):
        build_model(ModelConfig(task="edges", backbone="vgg16", taps=["conv9_9"],
                                backbone_kwargs={"width": 0.0625, "fc_channels": 64}))


def test_predictor_outputs_and_multiscale():
    models = {"seg": _model(task="seg"), "normals": _model(task="normals"), "edges": _model(task="edges")}
    pred = Predictor(models, device="cpu", max_side=64)
    img = (np.random.default_rng(0).random((80, 50, 3)) * 255).astype(np.uint8)
    shown = pred.set_image(img)
    assert shown.shape == (64, 40, 3) and pred.image_scale == pytest.approx(0.8)
    out = pred.predict(scales=(0.5, 1.0, 1.5))
    assert out["seg"].shape == (4, 64, 40)
    np.testing.assert_allclose(out["seg"].sum(0), 1, atol=1e-5)
    assert out["normals"].shape == (64, 40, 3)
    np.testing.assert_allclose(np.linalg.norm(out["normals"], axis=-1), 1, atol=1e-5)
    assert out["edges"].shape == (64, 40) and 0 <= out["edges"].min() and out["edges"].max() <= 1
    single = pred.predict(scales=(1.0,))
    assert not np.allclose(single["edges"], out["edges"])  # the scales really contributed


def test_predictor_single_scale_matches_model_and_ablation_changes_output():
    model = _model(task="edges")
    pred = Predictor(model, device="cpu")
    img = (np.random.default_rng(1).random((48, 56, 3)) * 255).astype(np.uint8)
    got = pred.predict(img)["edges"]
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        ref = model.dense(model.features(x), (48, 56)).sigmoid()[0, 0].numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)
    ablated = pred.predict(ablate=["conv3_3"])["edges"]
    assert not np.allclose(ablated, got)


def test_models_sharing_a_backbone_share_one_pass():
    a = _model(task="seg")
    b = build_model(ModelConfig(task="edges", backbone="vgg16", mlp_widths=[8],
                                backbone_kwargs=dict(a.config.backbone_kwargs)), backbone=a.backbone).eval()
    pred = Predictor({"seg": a, "edges": b}, device="cpu")
    pred.set_image(np.zeros((32, 32, 3), np.uint8))
    calls = []
    hook = a.backbone.register_forward_hook(lambda *args: calls.append(1))
    pred.predict()
    hook.remove()
    assert len(calls) == 1


@pytest.mark.parametrize("task", ["seg", "normals", "edges"])
def test_recorded_test_time_augmentation_is_the_mean_of_its_passes(task):
    """``tta_scales`` and ``tta_mirror`` average the outputs of the scaled and mirrored images,
    mirrored back (normals with x negated); ``tta=False`` ignores them. (Normals at one ratio: a
    single-scale prediction renormalises its resized normals, the mean of several does not.)"""
    ratios = [1.0] if task == "normals" else [0.75, 1.0]
    model = _model(task=task, tta_scales=ratios, tta_mirror=True)
    img = (np.random.default_rng(2).random((40, 56, 3)) * 255).astype(np.uint8)
    plain = Predictor(model, device="cpu", tta=False)
    assert plain.passes(task, (1.0,)) == [(1.0, False)]
    got = Predictor(model, device="cpu").predict(img)[task]
    parts = []
    for mirror in (False, True):
        shown = img[:, ::-1] if mirror else img
        for s in ratios:
            y = plain.predict(np.ascontiguousarray(shown), scales=(s,))[task]
            if mirror:
                y = y[..., ::-1] if task == "seg" else y[:, ::-1]
                if task == "normals":
                    y = y * np.array([-1.0, 1.0, 1.0], np.float32)
            parts.append(y)
    want = np.mean(parts, 0)
    if task == "normals":
        want = want / np.linalg.norm(want, axis=-1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert not np.allclose(got, plain.predict(img)[task], atol=1e-4)  # the augmentation changed the output
    if task == "seg":
        assert Predictor(model, device="cpu").passes(task, (0.5, 1.0)) == [
            (0.375, False), (0.375, True), (0.5, False), (0.5, True), (0.75, False), (0.75, True), (1.0, False),
            (1.0, True)]


def test_a_mirrored_image_gives_the_mirrored_output_under_mirror_augmentation():
    """With ``tta_mirror`` alone, the prediction of the mirrored image is the mirrored prediction."""
    model = _model(task="normals", tta_mirror=True)
    img = (np.random.default_rng(3).random((32, 48, 3)) * 255).astype(np.uint8)
    pred = Predictor(model, device="cpu")
    a = pred.predict(img)["normals"]
    b = pred.predict(np.ascontiguousarray(img[:, ::-1]))["normals"][:, ::-1] * np.array([-1.0, 1.0, 1.0], np.float32)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_config_rejects_bad_test_time_scales():
    with pytest.raises(ValueError, match="tta_scales"):
        ModelConfig(task="edges", tta_scales=[1.0, 0.0])
    with pytest.raises(ValueError, match="tta_scales"):
        ModelConfig(task="edges", tta_scales=[])
    assert ModelConfig.from_dict({"task": "edges", "tta_scales": [1, 2]}).tta_scales == [1.0, 2.0]
