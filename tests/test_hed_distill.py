"""Edges distilled from HED on real photos (``--data hed-distill``), on tiny photos made here and a
stand-in for HED (a blurred step detector), so the labels can be checked exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from pixelnet.data import build_dataset
from pixelnet.distill.hed import HEDDistilled, MixedEdges, hed_map, hed_targets
from pixelnet.engine.cli import run_cli
from pixelnet.engine.config import parse_args


def fake_hed(rgb: np.ndarray) -> np.ndarray:
    """A smooth edge response: the blurred gradient magnitude of the grey image, in [0, 1]."""
    grey = rgb.astype(np.float32).mean(-1) / 255.0
    gy, gx = np.gradient(gaussian_filter(grey, 1.5))
    mag = np.hypot(gx, gy)
    return np.clip(mag / max(mag.max(), 1e-6), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Ten photos, each dark left of a vertical step at a different column, bright right of it."""
    root = tmp_path_factory.mktemp("real")
    (root / "backgrounds").mkdir()
    for i in range(10):
        img = np.full((90, 120, 3), 30, dtype=np.uint8)
        img[:, 40 + 4 * i :] = 220
        Image.fromarray(img).save(root / "backgrounds" / f"p{i}.png")
    return root


def test_targets_are_thin_edges_an_ignored_band_and_zeros() -> None:
    prob = np.zeros((40, 40), dtype=np.float32)
    prob[:, 20] = 1.0
    prob = gaussian_filter(prob, 2.0)
    prob /= prob.max()  # a soft vertical ridge at column 20
    t = hed_targets(prob, positive=0.5, ignore=0.15)
    rows = slice(6, 34)  # away from the NMS border
    assert (t[rows, 20] == 1).all() and ((t[rows] == 1).sum(1) == 1).all()  # one pixel wide
    assert (t[rows, 17] == 255).all() and (t[rows, 23] == 255).all()  # the flanks are ignored
    assert (t[rows, :10] == 0).all() and (t[rows, 31:] == 0).all()
    assert set(np.unique(t)) == {0, 1, 255}


def test_maps_are_computed_once_stored_and_reused(photos: Path) -> None:
    calls = []

    def counting(rgb):
        calls.append(rgb.shape)
        return fake_hed(rgb)

    first = hed_map(photos / "backgrounds" / "p0.png", photos / "hed_once", counting)
    again = hed_map(photos / "backgrounds" / "p0.png", photos / "hed_once", lambda rgb: 1 / 0)
    assert len(calls) == 1 and (photos / "hed_once" / "p0.png").is_file()
    np.testing.assert_array_equal(first, again)


def test_samples_follow_the_photo_and_are_deterministic(photos: Path) -> None:
    ds = HEDDistilled(photos, "train", size=(48, 64), length=6, run_hed=fake_hed, jitter=False)
    assert len(ds) == 6 and len(ds.files) == 7  # 70 % of 10 photos, by source file
    checked = 0
    for i in range(6):
        s = ds[i]
        assert s["image"].shape == (48, 64, 3) and s["edges"].shape == (48, 64) and s["edges_gt"].shape == (1, 48, 64)
        grey = s["image"].astype(int).mean(-1)
        jump = np.abs(np.diff(grey, axis=1))[24]  # the step in the middle row of the crop
        if (s["edges"][24] == 1).any():
            col = int(np.flatnonzero(s["edges"][24] == 1)[0])
            assert abs(col - int(np.argmax(jump))) <= 2  # the label sits on the image's step
            checked += 1
        np.testing.assert_array_equal(ds[i]["edges"], s["edges"])
    assert checked >= 3
    test = HEDDistilled(photos, "test", size=(48, 64), length=2, run_hed=fake_hed)
    assert not {f.name for f in test.files} & {f.name for f in ds.files}


def test_mixed_alternates_and_keeps_the_edges_keys(photos: Path) -> None:
    a = build_dataset("synth", root=None, split="val", size=(32, 32), length=2)
    b = HEDDistilled(photos, "val", size=(32, 32), length=3, run_hed=fake_hed)
    mix = MixedEdges(a, b)
    assert len(mix) == 6
    assert mix[0]["name"].startswith("synth") and mix[1]["name"].startswith("hed-distill")
    assert sorted(mix[0]) == sorted(mix[1]) == ["edges", "edges_gt", "image", "name"]


@pytest.mark.parametrize("data", ["hed-distill", "synth-real+hed-distill"])
def test_train_run_takes_the_distilled_data(photos: Path, tmp_path: Path, data: str, load_script) -> None:
    for split in ("train", "val"):  # store the stand-in's maps: the CLI then needs no HED
        HEDDistilled(photos, split, length=1, run_hed=fake_hed)
    run = load_script("run")
    argv = ["--task", "edges", "--data", data, "--data-root", str(photos), "--synth-size", "32",
            "--backbone", "vgg16", "--backbone-width", "0.0625", "--fc-channels", "64", "--scratch",
            "--mlp-width", "16", "--images-per-batch", "2", "--pixels-per-image", "50", "--workers", "0",
            "--no-tensorboard", "--threads", "1", "--iters", "2", "--val-limit", "1", "--out", str(tmp_path / "r")]
    assert run_cli(run.main, parse_args(run.get_args_parser(), argv), prog="run.py") == 0
    assert (tmp_path / "r" / "model.safetensors").is_file()
