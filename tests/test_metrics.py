"""Metrics with known answers: hand-computed cases, torchmetrics as a second route, BSDS edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelnet.metrics import EdgeCounts, EdgeMeter, NormalsMeter, SegMeter, build_meter, edge_nms

# --------------------------------------------------------------------------- segmentation


def test_seg_hand_computed_with_ignore():
    # GT rows / prediction columns; 255 is dropped whatever the prediction
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 255]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 1]])
    meter = SegMeter(num_classes=3)
    meter.update(pred, target)
    # confusion: class0 -> {0:1, 1:1}; class1 -> {1:2}; class2 -> {2:1, 0:1}
    assert meter.confmat.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    out = meter.compute()
    assert out["pixel_acc"] == pytest.approx(4 / 6)
    assert out["mean_acc"] == pytest.approx((1 / 2 + 2 / 2 + 1 / 2) / 3)
    # IoU: c0 = 1/(2+2-1), c1 = 2/(2+3-2), c2 = 1/(2+1-1)
    assert out["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert set(out) == {"pixel_acc", "mean_acc", "miou"}


def test_seg_absent_class_left_out_of_means():
    target = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 0, 1, 2]])  # class 3 nowhere, class 2 only predicted
    meter = SegMeter(num_classes=4)
    meter.update(pred, target)
    iou = meter.per_class_iou()
    assert math.isnan(iou[3]) and iou[2] == 0
    out = meter.compute()
    assert out["miou"] == pytest.approx((1 + 1 / 2 + 0) / 3)  # class 3 not counted
    assert out["mean_acc"] == pytest.approx((1 + 1 / 2) / 2)  # only classes in the GT


def test_seg_accumulates_dataset_level_not_per_image():
    meter = SegMeter(num_classes=2)
    meter.update(torch.tensor([[0, 0, 0, 1]]), torch.tensor([[0, 0, 0, 0]]))  # image 1
    meter.update(torch.tensor([[1, 1]]), torch.tensor([[1, 1]]))  # image 2, another size
    # dataset confusion [[3, 1], [0, 2]] -> IoU 3/4 and 2/3
    assert meter.compute()["miou"] == pytest.approx((3 / 4 + 2 / 3) / 2)
    meter.reset()
    assert meter.confmat.sum() == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_seg_agrees_with_torchmetrics_jaccard(seed):
    tm = pytest.importorskip("torchmetrics.classification")
    g = torch.Generator().manual_seed(seed)
    k = 6
    reference = tm.MulticlassJaccardIndex(num_classes=k, average="macro", ignore_index=255)
    meter = SegMeter(num_classes=k)
    for _ in range(3):
        target = torch.randint(0, k - 1, (2, 9, 11), generator=g)  # class 5 never in the GT...
        pred = torch.randint(0, k - 2, (2, 9, 11), generator=g)  # ... nor predicted
        target[torch.rand(target.shape, generator=g) < 0.2] = 255
        meter.update(pred, target)
        reference.update(pred, target)
    assert math.isnan(meter.per_class_iou()[5])
    assert meter.compute()["miou"] == pytest.approx(reference.compute().item(), abs=1e-6)


def test_seg_rejects_bad_input():
    meter = SegMeter(num_classes=3)
    with pytest.raises(ValueError, match="outside"):
        meter.update(torch.tensor([[3]]), torch.tensor([[0]]))
    with pytest.raises(ValueError, match="shape"):
        meter.update(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        meter.update(torch.zeros(2, 2), torch.zeros(2, 2))


# --------------------------------------------------------------------------- normals


def _random_normals(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    n = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.normalize(n, dim=-3)


def _rotate_about_z(n: torch.Tensor, degrees: float) -> torch.Tensor:
    a = math.radians(degrees)
    x, y, z = n.unbind(dim=-3)
    return torch.stack([x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a), z], dim=-3)


def test_normals_identical_is_zero():
    n = _random_normals((2, 3, 5, 7))
    meter = NormalsMeter()
    meter.update(3.0 * n, n)  # lengths do not matter
    out = meter.compute()
    assert set(out) == {"mean", "median", "rmse", "within_11_25", "within_22_5", "within_30"}
    assert out["mean"] < 1e-4 and out["median"] < 1e-4 and out["rmse"] < 1e-4
    assert out["within_11_25"] == out["within_22_5"] == out["within_30"] == 100.0


def test_normals_known_rotation_and_thresholds():
    # in-plane normals (z = 0) rotated about z by exactly 20 degrees
    in_plane = _random_normals((1, 3, 4, 6)) * torch.tensor([1.0, 1.0, 0.0])[:, None, None]
    n = torch.nn.functional.normalize(in_plane, dim=1)
    meter = NormalsMeter()
    meter.update(_rotate_about_z(n, 20.0), n)
    out = meter.compute()
    for key in ("mean", "median", "rmse"):
        assert out[key] == pytest.approx(20.0, abs=1e-4)
    assert (out["within_11_25"], out["within_22_5"], out["within_30"]) == (0.0, 100.0, 100.0)


def test_normals_pools_pixels_and_respects_valid():
    n = torch.tensor([1.0, 0.0, 0.0]).expand(1, 2, 2, 3).permute(0, 3, 1, 2).contiguous()  # (1, 3, 2, 2)
    pred = n.clone()
    pred[0, :, 0, 0] = torch.tensor([0.0, 1.0, 0.0])  # 90 degrees off at one pixel
    pred[0, :, 0, 1] = torch.tensor([-1.0, 0.0, 0.0])  # 180 degrees off, but invalid
    valid = torch.tensor([[[True, False], [True, True]]])
    meter = NormalsMeter()
    meter.update(pred, n, valid)
    meter.update(n[0], n[0])  # a second image given as (3, H, W): four more pixels at 0
    out = meter.compute()  # pooled errors: 90, 0 x 6
    assert out["mean"] == pytest.approx(90 / 7)
    assert out["rmse"] == pytest.approx(math.sqrt(90**2 / 7))
    assert out["median"] == pytest.approx(0.0, abs=0.01)  # histogram median: 0.01 degree bins
    assert out["within_11_25"] == pytest.approx(600 / 7)


def test_normals_median_matches_numpy_within_bin():
    pred, target = _random_normals((3, 3, 16, 16), seed=1), _random_normals((3, 3, 16, 16), seed=2)
    meter = NormalsMeter()
    meter.update(pred[:2], target[:2])
    meter.update(pred[2:], target[2:])
    cos = (pred * target).sum(1).clamp(-1, 1).double()
    errors = torch.rad2deg(torch.acos(cos)).numpy()
    out = meter.compute()
    assert out["median"] == pytest.approx(np.median(errors), abs=0.01)
    assert out["mean"] == pytest.approx(errors.mean(), abs=1e-4)
    assert out["within_30"] == pytest.approx(100 * (errors < 30).mean())


def test_normals_default_valid_skips_zero_targets():
    n = _random_normals((1, 3, 2, 2))
    target = n.clone()
    target[0, :, 1, 1] = 0  # missing ground truth
    pred = n.clone()
    pred[0, :, 1, 1] = -n[0, :, 1, 1]  # would be 180 degrees
    meter = NormalsMeter()
    meter.update(pred, target)
    assert meter.count == 3 and meter.compute()["mean"] < 1e-4


# --------------------------------------------------------------------------- edges

SIZE = 128  # match tolerance 0.0075 * diagonal = 1.36 px


def _rectangle(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    g = np.zeros((SIZE, SIZE), dtype=bool)
    g[[top, bottom], left : right + 1] = True
    g[top : bottom + 1, [left, right]] = True
    return g


RECT = _rectangle(20, 20, 60, 70)
OTHER = _rectangle(80, 30, 120, 80)  # same perimeter, far from RECT


def _edges(prob: np.ndarray, gt: np.ndarray, **kw) -> dict[str, float]:
    meter = EdgeMeter(**kw)
    meter.update(prob, gt)
    return meter.compute()


def test_edges_prediction_equal_to_gt_scores_one():
    out = _edges(RECT.astype(float), RECT[None])
    assert {"ods", "ois", "ap"} <= set(out)
    assert out["ods"] == pytest.approx(1.0, abs=0.02)
    assert out["ois"] == pytest.approx(1.0, abs=0.02)
    assert out["ap"] == pytest.approx(1.0, abs=0.05)


def test_edges_one_pixel_shift_matches_but_three_do_not():
    assert _edges(np.roll(RECT, 1, axis=0).astype(float), RECT)["ods"] > 0.97
    assert _edges(np.roll(RECT, 1, axis=1).astype(float), RECT)["ods"] > 0.97
    assert _edges(np.roll(RECT, (3, 3), axis=(0, 1)).astype(float), RECT)["ods"] < 0.1


def test_edges_empty_prediction_scores_zero():
    out = _edges(np.zeros((SIZE, SIZE)), RECT[None])
    assert (out["ods"], out["ois"], out["ap"]) == (0.0, 0.0, 0.0)


def test_edges_half_recall_over_annotators():
    # annotator 1 drew RECT, annotator 2 drew OTHER: predicting RECT matches every predicted pixel
    # (precision 1) but only half of the GT pixels summed over annotators (recall 0.5)
    out = _edges(RECT.astype(float), np.stack([RECT, OTHER]))
    assert out["ods"] == pytest.approx(2 * 0.5 / 1.5, abs=0.02)


def test_edges_half_precision():
    out = _edges((RECT | OTHER).astype(float), RECT[None])
    assert out["ods"] == pytest.approx(2 * 0.5 / 1.5, abs=0.02)


def _counts(r: list[float], p: list[float], n: float = 100.0) -> EdgeCounts:
    """Counts with recall r and precision p at each threshold, n pixels on each side."""
    r_, p_ = np.array(r), np.array(p)
    full = np.full(len(r), n)
    return EdgeCounts(count_r=r_ * n, sum_r=full, count_p=p_ * n, sum_p=full.copy())


def test_edges_ods_interpolates_between_thresholds():
    meter = EdgeMeter(thresholds=2)  # thresholds 1/3, 2/3
    meter.update_counts(_counts([1.0, 0.5], [0.5, 1.0]))
    with pytest.raises(ValueError, match="thresholds"):
        meter.update_counts(_counts([1.0], [1.0]))
    out = meter.compute()
    # F is 2/3 at both thresholds but 0.75 halfway along the PR segment
    assert out["ods"] == pytest.approx(0.75, abs=1e-3)
    assert out["ods_threshold"] == pytest.approx(0.5, abs=0.01)


def test_edges_ois_takes_each_images_best_threshold():
    meter = EdgeMeter(thresholds=2)
    meter.update_counts(_counts([1.0, 0.2], [1.0, 0.2]))  # best at threshold 1
    meter.update_counts(_counts([0.2, 1.0], [0.2, 1.0]))  # best at threshold 2
    out = meter.compute()
    assert out["ois"] == pytest.approx(1.0)
    assert out["ods"] == pytest.approx(0.6)  # the dataset curve is flat at R = P = 0.6


def test_edges_ap_is_matlab_area_pr():
    meter = EdgeMeter(thresholds=3)
    # precision 1 for recall in [0.105, 0.895]: samples 0.11 .. 0.89 of 0:0.01:1 -> 79 x 0.01
    meter.update_counts(_counts([0.895, 0.5, 0.105], [1.0, 1.0, 1.0], n=1000.0))
    assert meter.compute()["ap"] == pytest.approx(0.79)
    meter.reset()
    meter.update_counts(_counts([0.6, 0.6, 0.6], [1.0, 1.0, 1.0]))  # one distinct recall: area 0
    assert meter.compute()["ap"] == 0.0


def test_edge_nms_thins_a_blurred_line():
    # a vertical ridge. (The toolbox's orientation formula is degenerate for a perfectly
    # horizontal one, where the mixed derivative is exactly 0; kept as in the reference.)
    x = np.arange(SIZE)
    prob = np.ones((SIZE, 1)) * np.exp(-0.5 * ((x[None, :] - 64.0) / 2.0) ** 2)
    out = edge_nms(prob)
    assert out.shape == prob.shape and out.dtype == np.float64
    core = out[10:-10]
    assert (core[:, 64] > 0.5).all() and (np.delete(core, 64, axis=1) == 0).all()
    assert (out[0] == 0).all()  # border faded


def test_edges_rejects_bad_input():
    meter = EdgeMeter()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        meter.update(np.full((SIZE, SIZE), 1.01), RECT[None])
    meter.update((RECT * (1 + 1e-7)).astype(np.float32), RECT[None])  # rounding overshoot: clipped
    with pytest.raises(ValueError, match="ground truth"):
        meter.update(np.zeros((SIZE, SIZE)), RECT[None, :10])


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("task", "kw", "cls"),
    [("seg", {"num_classes": 3}, SegMeter), ("normals", {}, NormalsMeter), ("edges", {}, EdgeMeter)],
)
def test_build_meter(task, kw, cls):
    meter = build_meter(task, **kw)
    assert isinstance(meter, cls)
    for name in ("update", "compute", "reset"):
        assert callable(getattr(meter, name))


def test_build_meter_unknown_task():
    with pytest.raises(ValueError, match="unknown task"):
        build_meter("depth")
