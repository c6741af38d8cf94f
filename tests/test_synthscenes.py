"""Contracts of SynthScenes: sample structure, determinism, geometry and edge ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pixelnet.synth.layout import sample_scene
from pixelnet.synth.scenes import SYNTH_CLASSES, SYNTH_SPLITS, SynthScenes, _edges, render_scene

SIZE = (48, 64)


@pytest.fixture(scope="module")
def scenes() -> dict[int, dict]:
    return {seed: render_scene(seed, SIZE) for seed in range(6)}


def test_sample_structure(scenes: dict[int, dict]) -> None:
    s = scenes[0]
    h, w = SIZE
    expected = {"image": (np.uint8, (h, w, 3)), "seg": (np.int64, (h, w)), "normals": (np.float32, (h, w, 3)),
                "depth": (np.float32, (h, w)), "valid": (np.bool_, (h, w)), "edges": (np.uint8, (h, w)),
                "edges_gt": (np.bool_, (1, h, w))}
    assert set(s) == set(expected) | {"name"} and s["name"] == "synth-000000"
    for key, (dtype, shape) in expected.items():
        assert s[key].dtype == dtype and s[key].shape == shape, key
    assert np.allclose(np.linalg.norm(s["normals"], axis=-1), 1.0, atol=1e-4)
    assert (s["depth"] > 0).all() and s["valid"].all()
    assert set(np.unique(s["edges"])) <= {0, 1} and np.array_equal(s["edges_gt"][0], s["edges"] == 1)
    assert s["seg"].min() >= 0 and s["seg"].max() < len(SYNTH_CLASSES)


def test_classes_and_splits() -> None:
    for name in ("floor", "wall", "ceiling", "box", "sphere", "cylinder"):
        assert name in SYNTH_CLASSES
    assert len(SYNTH_CLASSES) >= 8 and len(set(SYNTH_CLASSES)) == len(SYNTH_CLASSES)
    ranges = sorted(SYNTH_SPLITS.values(), key=lambda r: r.start)
    assert all(a.stop <= b.start for a, b in zip(ranges, ranges[1:]))
    assert len(SYNTH_SPLITS["test"]) >= 10_000 and set(SYNTH_SPLITS) == {"train", "val", "test"}


def test_deterministic_and_toggles_change_only_the_image(scenes: dict[int, dict]) -> None:
    again = render_scene(3, SIZE)
    assert all(np.array_equal(again[k], scenes[3][k]) for k in again if k != "name")
    assert not np.array_equal(scenes[3]["seg"], scenes[4]["seg"])
    clean = render_scene(3, SIZE, noise=False, blur=False)
    assert not np.array_equal(clean["image"], scenes[3]["image"])
    for key in ("seg", "normals", "depth", "edges"):
        assert np.array_equal(clean[key], scenes[3][key]), key


def test_layout_does_not_depend_on_size() -> None:
    small = render_scene(7, (20, 24), noise=False, blur=False)
    large = render_scene(7, (60, 72), noise=False, blur=False)  # 3x: its pixel centres include the small ones
    assert (large["seg"][1::3, 1::3] == small["seg"]).mean() > 0.99
    assert np.allclose(large["depth"][1::3, 1::3], small["depth"], rtol=1e-3, atol=1e-3)


def test_scenes_are_varied(scenes: dict[int, dict]) -> None:
    seen = set().union(*(np.unique(s["seg"]).tolist() for s in scenes.values()))
    assert {0, 1} <= seen and len(seen - {0, 1, 2}) >= 3  # floor, wall and several object classes
    fovs = {round(sample_scene(seed).camera.fov_x, 3) for seed in range(6)}
    assert len(fovs) == 6


def _backproject(depth: np.ndarray, fov_x: float) -> np.ndarray:
    h, w = depth.shape
    focal = (w / 2) / np.tan(fov_x / 2)
    x = (np.arange(w) + 0.5 - w / 2) / focal
    y = (np.arange(h) + 0.5 - h / 2) / focal
    return np.stack([x[None, :] * depth, y[:, None] * depth, depth], axis=-1)  # OpenCV frame


def test_normals_agree_with_depth(scenes: dict[int, dict]) -> None:
    """Two routes: normals from the renderer vs normals from finite differences of depth."""
    errors = []
    for seed, s in scenes.items():
        points = _backproject(s["depth"].astype(np.float64), sample_scene(seed).camera.fov_x)
        cross = np.cross(points[:-1, 1:] - points[:-1, :-1], points[1:, :-1] - points[:-1, :-1])
        from_depth = cross * np.array([-1, -1, 1])  # OpenCV (z forward) -> ours (z towards the camera)
        from_depth /= np.linalg.norm(from_depth, axis=-1, keepdims=True)
        seg = s["seg"]
        same = (seg[:-1, :-1] == seg[:-1, 1:]) & (seg[:-1, :-1] == seg[1:, :-1])
        same &= ~(s["edges"][:-1, :-1] | s["edges"][:-1, 1:] | s["edges"][1:, :-1]).astype(bool)
        dot = (from_depth * s["normals"][:-1, :-1]).sum(-1)[same]
        errors.append(np.degrees(np.arccos(np.clip(dot, -1, 1))))
    errors = np.concatenate(errors)
    assert np.median(errors) < 1.0 and np.mean(errors < 10) > 0.95


def test_normals_convention(scenes: dict[int, dict]) -> None:
    for seed, s in scenes.items():
        floor = s["normals"][s["seg"] == SYNTH_CLASSES.index("floor")]
        assert (floor[:, 1] < -0.5).all()  # y is down, so "up" is negative y
        rays = _backproject(np.ones(SIZE), sample_scene(seed).camera.fov_x) * np.array([1, 1, -1])
        assert ((s["normals"] * rays).sum(-1) < 0).all()  # every surface faces the camera (z towards it)


def test_edges_mark_every_label_change(scenes: dict[int, dict]) -> None:
    for s in scenes.values():
        seg, edges = s["seg"], s["edges"].astype(bool)
        horizontal = seg[:, 1:] != seg[:, :-1]
        vertical = seg[1:] != seg[:-1]
        assert (edges[:, 1:] | edges[:, :-1])[horizontal].all()
        assert (edges[1:] | edges[:-1])[vertical].all()
        assert edges.mean() < 0.2


def test_edges_are_thin_and_on_the_near_side() -> None:
    surface = np.zeros((5, 6), dtype=np.int64)
    surface[:, 3:] = 1
    depth = np.where(surface == 1, 1.0, 2.0)  # right part is nearer
    edges = _edges(surface, depth)
    expected = np.zeros((5, 6), dtype=bool)
    expected[:, 3] = True
    assert np.array_equal(edges, expected)
    assert np.array_equal(_edges(surface, 3.0 - depth)[:, 2], np.ones(5, dtype=bool))
    jitter = 1.0 + 1e-4 * np.random.default_rng(0).standard_normal((5, 6))  # a crease: equal depths
    assert np.array_equal(_edges(surface, jitter)[:, 2], np.ones(5, dtype=bool))
    assert _edges(surface, jitter).sum() == 5


def test_texture_does_not_create_edges() -> None:
    """Inside one flat surface the image varies (texture, shading) but no edge is marked."""
    s = render_scene(1, SIZE, noise=False, blur=False)
    floor = s["seg"] == SYNTH_CLASSES.index("floor")
    assert s["image"][floor].std() > 3  # texture and shading vary on the floor
    n = s["normals"]
    flat = floor & (np.abs(n - n[floor].mean(0)).sum(-1) < 1e-3)
    inner = flat.copy()
    inner[1:] &= flat[:-1]
    inner[:-1] &= flat[1:]
    inner[:, 1:] &= flat[:, :-1]
    inner[:, :-1] &= flat[:, 1:]
    assert inner.sum() > 100 and not s["edges"][inner].any()


def test_dataset_indexing_and_collate() -> None:
    ds = SynthScenes("val", size=(16, 16), length=3, seed_offset=5, noise=False)
    assert len(ds) == 3
    assert ds[0]["name"] == f"synth-{SYNTH_SPLITS['val'][5]:06d}"
    assert np.array_equal(ds[-1]["seg"], render_scene(SYNTH_SPLITS["val"][7], (16, 16), noise=False)["seg"])
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["image"].shape == (2, 16, 16, 3) and batch["image"].dtype == torch.uint8
    assert batch["edges_gt"].dtype == torch.bool and len(batch["name"]) == 2
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(ValueError, match="split"):
        SynthScenes("extra")
    with pytest.raises(ValueError, match="length"):
        SynthScenes("val", length=len(SYNTH_SPLITS["val"]), seed_offset=1)


def test_example_files_round_trip(tmp_path) -> None:
    from pixelnet.synth.gallery import colour_labels, gallery, save_example

    png, npz = save_example(3, tmp_path, size=SIZE)
    truth = render_scene(3, SIZE)
    stored = np.load(npz)
    assert np.array_equal(stored["seg"], truth["seg"]) and np.array_equal(stored["edges"], truth["edges"])
    assert np.abs(stored["normals"] / 127.5 - 1 - truth["normals"]).max() < 0.01
    assert tuple(stored["classes"]) == SYNTH_CLASSES
    assert gallery([0, 1], size=(8, 10), gap=2).shape == (18, 46, 3)
    assert (colour_labels(np.array([[255]])) == 0).all()


def test_bench_cli_writes_json(tmp_path) -> None:
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "bench_synthscenes.py"
    spec = importlib.util.spec_from_file_location("bench_synthscenes", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    args = bench.get_args_parser().parse_args(["--size", "16", "16", "--scenes", "2", "--runs", "1",
                                               "--class-stats", "2", "--json", str(out)])
    bench.main(args)
    result = json.loads(out.read_text())
    assert result["scenes_per_s"] > 0 and abs(sum(result["class_frequencies"].values()) - 1) < 1e-6
