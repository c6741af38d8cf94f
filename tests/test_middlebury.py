"""Real geometry: the Middlebury motorcycle's plane-fit normals and occlusion boundaries, the
normals baselines and occlusion-boundary recall (known answers on tiny synthetic fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_eval import tiny_model
from test_train import load_script

from pixelnet.data import build_dataset
from pixelnet.datasets.middlebury import (
    MOTORCYCLE_CALIBRATION,
    StereoCalibration,
    depth_discontinuities,
    disparity_to_normals,
)
from pixelnet.evaluation.geometry import BoundaryRecallMeter, normals_baselines
from pixelnet.metrics import boundary_recall, mean_normal, top_n_mask

CAL = StereoCalibration(focal=100.0, cx=15.5, cy=11.5, doffs=3.0, baseline=50.0)


def plane_disparity(normal_cv: np.ndarray, rho: float, shape: tuple[int, int], cal: StereoCalibration) -> np.ndarray:
    """Disparity of the plane ``n . P = rho`` (OpenCV frame): ``d + doffs = b (n . (u - cx, v - cy, f)) / rho``."""
    v, u = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    ray = np.stack([u - cal.cx, v - cal.cy, np.full_like(u, cal.focal)], axis=-1)
    return cal.baseline * (ray @ normal_cv) / rho - cal.doffs


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


@pytest.mark.parametrize("tilt", [(0.3, -0.2), (-0.5, 0.4), (0.0, 0.0)])
def test_plane_fit_recovers_a_tilted_plane(tilt: tuple[float, float]) -> None:
    # a plane in front of the camera whose normal (OpenCV frame) points back at it: z < 0
    n_cv = np.array([tilt[0], tilt[1], -1.0])
    n_cv /= np.linalg.norm(n_cv)
    rho = -1000.0 * abs(n_cv[2])  # n . P = rho with P = (0, 0, 1000) on the plane
    disp = plane_disparity(n_cv, rho, (24, 32), CAL)
    assert np.all(disp + CAL.doffs > 0)
    normals, valid, boundaries = disparity_to_normals(disp.astype(np.float32), CAL, window=5)
    expected = n_cv * np.array([1.0, 1.0, -1.0])  # project frame: z towards the camera
    assert expected[2] > 0 and valid[2:-2, 2:-2].all() and not boundaries.any()  # corners: too few points
    assert angle_deg(normals[valid], expected).max() < 1.0


def test_plane_fit_orientation_and_invalid_pixels() -> None:
    # the right side of the plane is farther (disparity falls with u): its normal faces right (+x)
    disp = 20.0 - 0.3 * np.arange(32)[None, :].repeat(24, 0)
    disp[5:9, 5:9] = np.nan  # a hole larger than the window: no valid window there
    normals, valid, _ = disparity_to_normals(disp, CAL, window=3, min_fraction=0.9)
    assert not valid[6:8, 6:8].any() and valid[20, 20]
    assert normals[20, 20, 0] > 0.1 and normals[20, 20, 2] > 0
    assert np.all(normals[~valid] == 0)
    assert np.allclose(np.linalg.norm(normals[valid], axis=-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        disparity_to_normals(disp, CAL, window=4)


def test_discontinuities_at_a_step() -> None:
    disp = np.full((10, 12), 10.0)
    disp[:, 6:] = 30.0  # the right half is nearer
    disp[0, 0] = np.nan
    edges = depth_discontinuities(disp, jump_px=2.0)
    expected = np.zeros_like(edges)
    expected[:, 6] = True  # the near side only, one pixel wide
    assert np.array_equal(edges, expected)
    assert not depth_discontinuities(disp, jump_px=25.0).any()
    # across an occluded (unknown) strip as wide as the jump: the near end is marked, not a wider strip
    strip = np.full((3, 30), 10.0)
    strip[:, 8:13] = np.nan  # 5 unknown columns
    strip[:, 13:] = 15.0  # 5 px nearer
    assert np.array_equal(np.nonzero(depth_discontinuities(strip))[1], [13, 13, 13])
    strip[:, 13:] = 12.5  # a 2.5 px jump cannot hide a 5 px strip
    assert not depth_discontinuities(strip).any()
    strip[:, 13:] = 5.0  # the near side is on the left
    assert np.array_equal(np.nonzero(depth_discontinuities(strip))[1], [7, 7, 7])
    # a slant of 1.5 px per pixel is no discontinuity
    assert not depth_discontinuities(np.arange(12.0)[None].repeat(5, 0) * 1.5).any()
    # a window straddling the step is not valid
    normals, valid, boundaries = disparity_to_normals(disp, CAL, window=5)
    assert np.array_equal(boundaries, expected)
    assert not valid[:, 4:9].any() and valid[5, 1] and valid[5, 10]


def test_mean_normal_and_baselines() -> None:
    # half the valid pixels face the camera, half face right: known statistics
    target = np.zeros((4, 6, 3), np.float32)
    target[:, :3] = (0.0, 0.0, 1.0)
    target[:, 3:] = (1.0, 0.0, 0.0)
    valid = np.ones((4, 6), bool)
    valid[0, 0] = valid[0, 3] = False
    target[0, 0] = target[0, 3] = (0.0, 1.0, 0.0)  # invalid pixels are ignored
    t = torch.from_numpy(target).permute(2, 0, 1)
    assert torch.allclose(mean_normal(t, torch.from_numpy(valid)),
                          torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64) / 2 ** 0.5)
    base = normals_baselines([{"normals": target, "valid": valid}])
    facing, const = base["facing_camera"], base["mean_normal"]
    assert facing["mean"] == pytest.approx(45.0, abs=1e-6) and facing["within_11_25"] == pytest.approx(50.0)
    assert facing["rmse"] == pytest.approx(np.sqrt(0.5 * 90 ** 2), abs=1e-6)
    assert const["mean"] == pytest.approx(45.0, abs=1e-6) and const["median"] == pytest.approx(45.0, abs=0.01)
    assert const["within_30"] == 0.0 and const["x"] == pytest.approx(2 ** -0.5)


def test_top_n_mask_counts_and_ties() -> None:
    score = np.array([[0.0, 0.5, 0.5], [0.9, 0.5, -1.0]])
    assert np.array_equal(top_n_mask(score, 2), [[False, True, False], [True, False, False]])
    assert top_n_mask(score, 10).sum() == 4  # only positive scores
    assert not top_n_mask(score, 0).any()


def test_boundary_recall_known_answers() -> None:
    boundary = np.zeros((20, 20), bool)
    boundary[10, 2:18] = True  # 16 boundary pixels
    pred = np.zeros((20, 20))
    pred[12, 2:10] = 1.0  # 2 px away from half the boundary: recalled at tolerance 2, not 1
    pred[0, :] = 0.5  # weaker, far away
    r = boundary_recall(pred, boundary, tolerance=2.0, budget=0.5, apply_nms=False)
    assert r["n_budget"] == 8 and r["n_kept"] == 8
    assert r["recall"] == pytest.approx(0.5) and r["precision"] == pytest.approx(1.0)
    assert boundary_recall(pred, boundary, tolerance=1.0, budget=0.5, apply_nms=False)["recall"] == 0.0
    # a larger budget takes in the far row: same recall, lower precision
    r2 = boundary_recall(pred, boundary, tolerance=2.0, budget=1.0, apply_nms=False)
    assert r2["recall"] == pytest.approx(0.5) and r2["precision"] == pytest.approx(0.5)
    # a perfect map through the NMS: a thick blurred ridge on the boundary thins onto it
    blurred = np.zeros((20, 20))
    blurred[9, 2:18], blurred[10, 2:18], blurred[11, 2:18] = 0.5, 1.0, 0.5
    assert boundary_recall(blurred, boundary, tolerance=2.0, budget=1.0)["recall"] > 0.75
    assert np.isnan(boundary_recall(pred, np.zeros_like(boundary), apply_nms=False)["recall"])
    # the meter pools boundary pixels over images
    r1 = boundary_recall(blurred, boundary, tolerance=2.0, budget=1.0)["recall"]
    meter = BoundaryRecallMeter(tolerance=2.0, budget=1.0)
    meter.update({"edges_gt": boundary[None]}, blurred)
    meter.update({"edges_gt": np.zeros((1, 20, 20), bool)}, blurred)  # no boundary: adds nothing
    assert meter.compute()["boundary_recall"] == pytest.approx(r1)
    meter.update({"edges_gt": boundary[None]}, np.zeros((20, 20)))  # nothing predicted: recall 0
    assert meter.compute()["boundary_recall"] == pytest.approx(r1 / 2)


def test_real_motorcycle_loads() -> None:
    ds = build_dataset("middlebury-motorcycle", root=None, split="test")
    assert len(ds) == 1
    s = ds[0]
    assert s["image"].shape == (500, 741, 3) and s["image"].dtype == np.uint8
    norm = np.linalg.norm(s["normals"], axis=-1)
    unit = np.abs(norm - 1) < 1e-4
    assert unit.mean() > 0.5 and np.array_equal(unit, s["valid"])
    # every valid normal faces the camera: n . (direction to the camera) > 0 in the project frame, up to
    # grazing surfaces (the orientation is decided at the window's centroid, not its centre pixel)
    v, u = np.nonzero(s["valid"])
    c = MOTORCYCLE_CALIBRATION
    to_camera = np.stack([-(u - c.cx) / c.focal, -(v - c.cy) / c.focal, np.ones(len(u))], axis=-1)
    to_camera /= np.linalg.norm(to_camera, axis=-1, keepdims=True)
    assert np.all((s["normals"][s["valid"]] * to_camera).sum(-1) > -0.01)
    assert s["edges_gt"].shape == (1, 500, 741) and 0.001 < s["edges_gt"].mean() < 0.05
    assert MOTORCYCLE_CALIBRATION.focal == pytest.approx(994.978)
    with pytest.raises(ValueError, match="split"):
        build_dataset("middlebury-motorcycle", root=None, split="train")
    with pytest.raises(ValueError, match="root"):
        build_dataset("middlebury-motorcycle", root="/tmp", split="test")


def test_eval_cli_reports_baselines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """train/eval.py on a one-image geometry dataset adds the baselines (tiny fixture, no real model run)."""
    eval_cli = load_script("eval")
    target = np.zeros((8, 8, 3), np.float32)
    target[..., 2] = 1.0
    sample = {"image": np.zeros((8, 8, 3), np.uint8), "normals": target, "valid": np.ones((8, 8), bool)}

    class Model:
        task = "normals"

    monkeypatch.setattr(eval_cli, "load_model_or_reference", lambda name: Model())
    monkeypatch.setattr(eval_cli, "open_dataset", lambda *a, **k: [sample])
    monkeypatch.setattr(eval_cli, "evaluate", lambda *a, **k: {"mean": 1.0})
    monkeypatch.setattr(eval_cli, "format_metrics", lambda task, m, title="": title)
    out = tmp_path / "m.json"
    args = eval_cli.get_args_parser().parse_args(["--model", "x", "--data", "middlebury-motorcycle", "--quiet",
                                                  "--json", str(out)])
    assert eval_cli.main(args) == 0
    metrics = json.loads(out.read_text())
    assert metrics["baselines"]["facing_camera"]["median"] == pytest.approx(0.0, abs=0.01)
    assert metrics["baselines"]["mean_normal"]["z"] == pytest.approx(1.0)


# ---- the Middlebury 2006 Aloe of opencv-doc (middlebury-aloe) ------------------------------------


def _aloe_cache(root: Path, step_x: int = 20) -> Path:
    """A tiny Aloe in the cache layout: a photo and a uint8 disparity with a near square (d = 40)
    on a far background (d = 10), unknown (0) in a strip left of the square (the occluded band)."""
    folder = root / "geometry" / "aloe"
    folder.mkdir(parents=True)
    gt = np.full((40, 60), 10, np.uint8)
    gt[10:30, step_x:step_x + 20] = 40
    gt[10:30, step_x - 4:step_x] = 0
    Image.fromarray(gt).save(folder / "aloeGT.png")
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(folder / "aloeL.jpg")
    return root


def test_aloe_is_halved_and_its_boundaries_are_the_near_side_of_the_jumps(tmp_path: Path) -> None:
    from pixelnet.data import build_dataset
    from pixelnet.datasets.middlebury_aloe import MiddleburyAloe

    ds = build_dataset("middlebury-aloe", root=str(_aloe_cache(tmp_path)), split="test")
    assert isinstance(ds, MiddleburyAloe) and len(ds) == 1
    s = ds[0]
    assert s["image"].shape == (20, 30, 3) and s["edges_gt"].shape == (1, 20, 30) and s["name"] == "aloe"
    d = s["disparity"]
    assert np.nanmax(d) == 20 and np.nanmin(d) == 5 and np.isnan(d[5:15, 8:10]).all()  # halved, unknown kept
    ring = np.zeros((20, 30), bool)
    ring[5:15, 10:20] = True
    ring[6:14, 11:19] = False
    # the square's outer ring, on the square (the near side), its left side across the unknown band too
    np.testing.assert_array_equal(s["edges_gt"][0], ring)


def test_aloe_without_its_files_says_how_to_get_them(tmp_path: Path) -> None:
    from pixelnet.data import DatasetError
    from pixelnet.datasets.middlebury_aloe import MiddleburyAloe

    with pytest.raises(DatasetError, match="fetch_data.py"):
        MiddleburyAloe(tmp_path)
    with pytest.raises(ValueError, match="'test'"):
        MiddleburyAloe(_aloe_cache(tmp_path), split="train")


def test_eval_reports_boundary_recall_on_the_aloe(tmp_path: Path, load_script) -> None:
    from pixelnet.engine.cli import run_cli
    from pixelnet.engine.config import parse_args
    from pixelnet.io import save_model

    root = _aloe_cache(tmp_path / "cache")
    save_model(tiny_model("edges"), tmp_path / "m")
    ev = load_script("eval")
    out = tmp_path / "aloe.json"
    argv = ["--model", str(tmp_path / "m"), "--data", "middlebury-aloe", "--data-root", str(root), "--quiet",
            "--device", "cpu", "--json", str(out)]
    assert run_cli(ev.main, parse_args(ev.get_args_parser(), argv), prog="eval.py") == 0
    b = json.loads(out.read_text())["boundary"]
    assert 0 <= b["boundary_recall"] <= 1 and b["tolerance"] == 2
