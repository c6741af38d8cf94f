"""SynthScenes with real-photo textures (``--data synth-real``) on a tiny photo folder made here:
the ground truth is the plain scene's, bit for bit; photos are split by source file; the CLI
trains and evaluates on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelnet.data import DatasetError, build_dataset, dataset_classes
from pixelnet.engine.cli import run_cli
from pixelnet.engine.config import parse_args
from pixelnet.engine.datasets import open_dataset
from pixelnet.synth.layout import sample_scene
from pixelnet.synth.photos import PhotoTextures
from pixelnet.synth.scenes import SYNTH_CLASSES, render_scene, with_photo_materials

N_PHOTOS = 10


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Ten photos of vertical colour stripes (one hue per file), so a surface textured with
    one shows stripes no plain SynthScenes material has at that scale."""
    root = tmp_path_factory.mktemp("real")
    (root / "backgrounds").mkdir()
    rng = np.random.default_rng(0)
    for i in range(N_PHOTOS):
        img = np.zeros((60, 90, 3), dtype=np.uint8)
        img[:, ::6] = rng.integers(0, 256, 3)  # thin stripes: texture edges
        img[:, 3::6] = rng.integers(0, 256, 3)
        Image.fromarray(img).save(root / "backgrounds" / f"photo_{i}.{'png' if i % 2 else 'jpg'}")
    return root


def test_photos_are_split_by_source_file(photos: Path) -> None:
    files = {s: {f.name for f in PhotoTextures(photos, s).files} for s in ("train", "val", "test")}
    assert files["train"] and files["val"] and files["test"]
    assert not (files["train"] & files["test"]) and not (files["train"] & files["val"])
    assert len(files["train"] | files["val"] | files["test"]) == N_PHOTOS


def test_a_material_is_a_square_crop_in_the_albedo_range(photos: Path) -> None:
    bank = PhotoTextures(photos, "test")
    for seed in range(5):
        m = bank.material(np.random.default_rng(seed))
        assert m.pattern == "real" and m.source.ndim == 3 and m.source.shape[0] == m.source.shape[1] >= 8
        assert 0.04 - 1e-6 <= m.source.min() and m.source.max() <= 0.94 + 1e-6
        assert m.source.std(axis=(0, 1)).max() > 0.05  # the stripes survive: it is the photo, not a colour


@pytest.mark.parametrize("seed", [0, 7])
def test_ground_truth_is_the_plain_scene_and_only_the_image_changes(photos: Path, seed: int) -> None:
    bank = PhotoTextures(photos, "train")
    plain = render_scene(seed, (64, 80))
    real = render_scene(seed, (64, 80), photos=bank, photo_objects=1.0, photo_room=1.0)
    for key in ("seg", "edges", "depth", "valid"):
        np.testing.assert_array_equal(real[key], plain[key])
    np.testing.assert_array_equal(real["normals"], plain["normals"])
    assert np.abs(real["image"].astype(int) - plain["image"].astype(int)).mean() > 5
    again = render_scene(seed, (64, 80), photos=bank, photo_objects=1.0, photo_room=1.0)
    np.testing.assert_array_equal(again["image"], real["image"])  # deterministic


def test_probabilities_choose_which_materials_become_photos(photos: Path) -> None:
    bank = PhotoTextures(photos, "train")
    scene = sample_scene(5)
    on_objects = {p.material for p in scene.primitives}
    none = with_photo_materials(scene, 5, bank, objects=0.0, room=0.0)
    assert all(m.pattern != "real" for m in none.materials)
    objects = with_photo_materials(scene, 5, bank, objects=1.0, room=0.0)
    assert {k for k, m in enumerate(objects.materials) if m.pattern == "real"} == on_objects
    assert objects.primitives == scene.primitives and objects.camera is scene.camera


def test_dataset_by_name_and_its_errors(photos: Path, tmp_path: Path) -> None:
    ds = build_dataset("synth-real", root=photos, split="val", size=(32, 32), length=2)
    assert len(ds) == 2 and ds[0]["name"].startswith("synth-real-") and ds[0]["image"].shape == (32, 32, 3)
    assert ds.photos.files == PhotoTextures(photos, "val").files  # a split's scenes use that split's photos
    assert dataset_classes("synth-real") == SYNTH_CLASSES
    with pytest.raises(DatasetError, match="fetch_data"):
        build_dataset("synth-real", root=tmp_path, split="train")
    (tmp_path / "backgrounds").mkdir()
    with pytest.raises(DatasetError, match="no photo"):
        PhotoTextures(tmp_path, "train")
    ds = open_dataset("synth-real", task="edges", split="test", root=photos, purpose="eval", synth_size=(32, 32),
                      length=3)
    assert len(ds) == 3


def test_train_run_and_eval_take_synth_real(photos: Path, tmp_path: Path, load_script) -> None:
    run = load_script("run")
    out = tmp_path / "run"
    argv = ["--task", "normals", "--data", "synth-real", "--data-root", str(photos), "--synth-size", "32",
            "--backbone", "vgg16", "--backbone-width", "0.0625", "--fc-channels", "64", "--scratch",
            "--mlp-width", "16", "--images-per-batch", "2", "--pixels-per-image", "50", "--workers", "0",
            "--no-tensorboard", "--threads", "1", "--iters", "2", "--val-limit", "1", "--out", str(out)]
    assert run_cli(run.main, parse_args(run.get_args_parser(), argv), prog="run.py") == 0
    ev = load_script("eval")
    argv = ["--model", str(out), "--data", "synth-real", "--data-root", str(photos), "--synth-size", "32",
            "--limit", "2", "--quiet", "--device", "cpu", "--json", str(tmp_path / "m.json")]
    assert run_cli(ev.main, parse_args(ev.get_args_parser(), argv), prog="eval.py") == 0
    assert "median" in (tmp_path / "m.json").read_text()
