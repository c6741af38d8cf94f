"""Losses on sampled pixels: hand-computed values, ignore labels, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pixelnet.losses import TASKS, build_loss, edges_loss, normals_loss, seg_loss


def test_seg_loss_ignores_255():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]], requires_grad=True)
    target = torch.tensor([0, 0, 255])
    loss = seg_loss(logits, target)
    expected = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(1 / (math.exp(2) + 1))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[2] == 0).all()  # the ignored pixel gets no gradient


def test_seg_loss_all_ignored_is_zero_with_grad():
    logits = torch.randn(4, 3, requires_grad=True)
    loss = seg_loss(logits, torch.full((4,), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert (logits.grad == 0).all()


def test_seg_loss_rejects_bad_shapes():
    with pytest.raises(ValueError):
        seg_loss(torch.randn(4, 3), torch.zeros(5, dtype=torch.long))


def test_normals_loss_zero_for_perfect_direction_any_length():
    target = F.normalize(torch.randn(10, 3), dim=1)
    pred = (target * 4.0).requires_grad_()
    loss = normals_loss(pred, target, torch.ones(10, dtype=torch.bool))
    assert loss.item() == pytest.approx(0.0, abs=1e-7)


def test_normals_loss_value_and_valid_mask():
    target = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    pred = torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [-1.0, 0.0, 0.0]], requires_grad=True)
    valid = torch.tensor([True, True, False])  # the opposite vector is not counted
    loss = normals_loss(pred, target, valid)
    # half squared distance: 90 degrees -> 1 - cos = 1, 0 degrees -> 0; mean over 2 valid pixels
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and (pred.grad[2] == 0).all()
    assert normals_loss(pred, target).item() == pytest.approx((1 + 0 + 2) / 3)  # valid=None: all


def test_normals_loss_no_valid_pixel():
    pred = torch.randn(3, 3, requires_grad=True)
    loss = normals_loss(pred, torch.randn(3, 3), torch.zeros(3, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(pred.grad).all()


def test_edges_loss_balancing_hand_computed():
    logits = torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0], requires_grad=True)
    target = torch.tensor([1, 0, 0, 0, 255], dtype=torch.uint8)
    loss = edges_loss(logits, target)
    # 4 counted pixels, 1 positive, 3 negatives: w+ = 3/4, w- = 1/4
    sp = F.softplus  # -log(sigmoid(x)) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x)
    expected = (
        0.75 * sp(torch.tensor(-1.0))
        + 0.25 * (sp(torch.tensor(-2.0)) + sp(torch.tensor(0.5)) + sp(torch.tensor(3.0)))
    ) / 4
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[4] == 0


def test_edges_loss_classes_carry_equal_weight():
    # with all logits 0 each pixel costs log 2: positives and negatives then contribute equally
    target = torch.tensor([[1], [0], [0], [0], [0], [0], [0], [0]])
    loss = edges_loss(torch.zeros(8, 1), target)
    assert loss.item() == pytest.approx(2 * (1 * 7 / 8) * math.log(2) / 8)


def test_edges_loss_all_ignored_and_bad_labels():
    logits = torch.randn(3, requires_grad=True)
    loss = edges_loss(logits, torch.full((3,), 255))
    assert loss.item() == 0.0
    loss.backward()
    with pytest.raises(ValueError):
        edges_loss(torch.randn(3), torch.tensor([0, 1, 2]))


def test_build_loss_registry():
    assert TASKS == ("seg", "normals", "edges")
    assert build_loss("seg") is seg_loss
    assert build_loss("normals") is normals_loss
    assert build_loss("edges") is edges_loss
    with pytest.raises(ValueError, match="unknown task"):
        build_loss("depth")
