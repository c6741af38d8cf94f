"""Pseudo-labels of real photos (pixelnet.distill.pseudo_labels), their cache, the real-categories
dataset on a tiny fixture cache, the category -> composites class map and the region-boundary
F-score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelnet.distill.pseudo_labels import (
    COMPOSITE_CLASS,
    NOT_PERSON,
    PERSON,
    PSEUDO_CLASSES,
    LabelRule,
    cached_labels,
    cached_probs,
    category_class_map,
    combine_person,
    pseudo_labels,
    sample_labels,
)
from pixelnet.distill.real_categories import RealCategories
from pixelnet.metrics.seg_boundaries import SegBoundaryMeter, label_boundaries
from pixelnet.synth.composites import Composites
from pixelnet.teachers.imagenet_categories import CATEGORIES

K = len(CATEGORIES)


def _onehot(labels: np.ndarray, k: int, p: float = 0.9) -> np.ndarray:
    out = np.full((k, *labels.shape), (1 - p) / (k - 1), np.float32)
    for c in range(k):
        out[c][labels == c] = p
    return out


def test_combine_person_keeps_a_distribution() -> None:
    cats = _onehot(np.full((4, 5), CATEGORIES.index("clothing")), K, p=1.0)
    person = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    probs = combine_person(cats, person)
    assert probs.shape == (K + 1, 4, 5)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs[-1], person)
    assert PSEUDO_CLASSES[-1] == PERSON and PSEUDO_CLASSES[:-1] == CATEGORIES
    # no clothing on the subject: the selfie model's subject is not a person
    bare = combine_person(_onehot(np.full((4, 5), CATEGORIES.index("building")), K, p=1.0), person)
    assert bare[-1].max() == 0
    # the selfie model's subject is not a person where the dense teacher sees a cat
    cat = combine_person(_onehot(np.full((4, 5), CATEGORIES.index("cat")), K, p=0.9), person, clothing_gate=0)
    np.testing.assert_allclose(cat[-1], person * (1 - 0.9 - 0.1 / (K - 1) * (len(NOT_PERSON) - 1)), atol=1e-6)
    np.testing.assert_allclose(cat.sum(0), 1.0, atol=1e-5)


def test_rule_labels_confident_pixels_and_ignores_the_rest() -> None:
    dog, wall = CATEGORIES.index("dog"), CATEGORIES.index("building")
    cats = np.full((40, 60), dog)
    cats[:, 30:] = wall
    probs_c = _onehot(cats, K, p=0.95)
    probs_c[:, 30:35, 0:10] = 1.0 / K  # a flat (unsure) patch
    person = np.zeros((40, 60), np.float32)
    person[0:10, 40:60] = 0.9  # a person, in front of the building
    person[10:12, 40:60] = 0.4  # the person model's uncertain band
    person[0:10, 0:20] = 0.9  # the selfie model's "subject" on the dog: vetoed
    labels = pseudo_labels(combine_person(probs_c, person, clothing_gate=0), LabelRule(band=3))
    assert labels[20, 5] == dog and labels[20, 55] == wall
    assert (labels[0:10, 40:60] == len(CATEGORIES)).all()  # person wins where it is sure
    assert (labels[10:12, 40:60] == 255).all()
    assert (labels[0:10, 0:20] == dog).all()
    assert (labels[30:35, 0:10] == 255).all()  # below the confidence
    assert (labels[20:30, 27:33] == 255).all() and labels[20, 26] == dog and labels[20, 33] == wall  # the band
    with pytest.raises(ValueError, match="classes"):
        pseudo_labels(probs_c)


def test_rule_key_changes_with_the_rule() -> None:
    assert LabelRule().key != LabelRule(band=4).key != LabelRule(scales=(1.0,)).key


def test_labels_are_cached_once(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    Image.fromarray(np.full((100, 700, 3), 90, np.uint8)).save(photo)
    calls = []

    def labeler(rgb: np.ndarray) -> np.ndarray:
        calls.append(rgb.shape)
        return np.full(rgb.shape[:2], 3, np.uint8)

    first = cached_labels(photo, tmp_path / "store", labeler)
    again = cached_labels(photo, tmp_path / "store", None)
    assert calls == [(73, 512, 3)] and first.shape == (73, 512)  # labelled at a longer side of 512
    np.testing.assert_array_equal(first, again)
    assert not list((tmp_path / "store").glob("*.tmp*"))
    with pytest.raises(Exception, match="no pseudo-labels"):
        cached_labels(tmp_path / "other.jpg", tmp_path / "store", None)


def test_category_class_map() -> None:
    classes = ("background", "animal", "food", "household", "instrument", "plant", "sports", "vehicle")
    m = category_class_map(PSEUDO_CLASSES, classes)
    assert classes[m[PSEUDO_CLASSES.index("cat")]] == "animal"
    assert classes[m[PSEUDO_CLASSES.index("fruit/veg")]] == "food"
    assert classes[m[PSEUDO_CLASSES.index(PERSON)]] == "background"
    assert classes[m[PSEUDO_CLASSES.index("landscape")]] == "background"
    assert set(COMPOSITE_CLASS) <= set(CATEGORIES)
    assert {COMPOSITE_CLASS[c] for c in COMPOSITE_CLASS} == set(classes[1:])  # every object class is reachable
    with pytest.raises(ValueError, match="background"):
        category_class_map(PSEUDO_CLASSES, ("animal",))
    assert classes[m[PSEUDO_CLASSES.index("tool")]] == "background"  # no composites class holds tools


def test_the_shipped_category_model_maps_by_name() -> None:
    """seg_categories was saved before `tool`: its own class list maps onto PSEUDO_CLASSES by name."""
    config = json.loads((Path(__file__).parents[1] / "assets/models/seg_categories/config.json").read_text())
    names = config["config"]["class_names"]
    assert "tool" not in names and set(names) < set(PSEUDO_CLASSES)
    m = category_class_map(names, PSEUDO_CLASSES)
    assert [PSEUDO_CLASSES[i] for i in m] == names
    composites = ("background", "animal", "food", "household", "instrument", "plant", "sports", "vehicle")
    assert (category_class_map(names, composites) == category_class_map(PSEUDO_CLASSES, composites)[
        [PSEUDO_CLASSES.index(n) for n in names]]).all()


def test_rule_key_changes_with_the_classes() -> None:
    assert f"-k{len(PSEUDO_CLASSES)}" in LabelRule().key and LabelRule(soft=True).key.endswith(
        f"-k{len(PSEUDO_CLASSES)}")


def test_boundary_f_score() -> None:
    gt = np.zeros((20, 20), int)
    gt[:, 10:] = 1
    assert label_boundaries(gt).sum() == 20 and label_boundaries(gt)[:, 9].all()
    m = SegBoundaryMeter(tolerance=1.0)
    m.update(gt, gt)
    assert m.compute()["boundary_f"] == 1.0
    m.reset()
    shifted = np.zeros_like(gt)
    shifted[:, 13:] = 1  # 3 px off: outside a 1 px tolerance
    m.update(shifted, gt)
    assert m.compute()["boundary_f"] == 0.0
    m2 = SegBoundaryMeter(tolerance=3.0)
    m2.update(shifted, gt)
    assert m2.compute()["boundary_f"] == 1.0
    ignored = gt.copy()
    ignored[:, 5:15] = 255  # nothing known near the boundary: nothing counted
    m3 = SegBoundaryMeter()
    m3.update(shifted, ignored)
    assert m3.pred_n == 0 and m3.gt_n == 0


def _fixture_cache(root: Path) -> None:
    """A tiny fetch cache: cut-outs of two classes, backgrounds and scenes."""
    rng = np.random.default_rng(0)
    for cls in ("animal", "vehicle"):
        (root / "cutouts" / cls).mkdir(parents=True)
        for i in range(3):
            a = np.zeros((40, 30, 4), np.uint8)
            a[..., :3] = rng.integers(0, 255, 3)
            a[5:35, 5:25, 3] = 255
            Image.fromarray(a, "RGBA").save(root / "cutouts" / cls / f"{cls}{i}.png")
    for folder in ("backgrounds", "scenes"):
        (root / folder).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(root / folder / f"{folder}{i}.jpg")


class FakeLabeler:
    """Teachers replaced: photos are half landscape, half dog; cut-outs take the first allowed."""

    def __init__(self) -> None:
        self.photos = 0

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        self.photos += 1
        out = np.full(rgb.shape[:2], PSEUDO_CLASSES.index("landscape"), np.uint8)
        out[:, : rgb.shape[1] // 2] = PSEUDO_CLASSES.index("dog")
        return out

    def probs(self, rgb: np.ndarray) -> np.ndarray:
        """Soft: the left half 70 % dog / 30 % cat, the right half landscape."""
        self.photos += 1
        out = np.zeros((len(PSEUDO_CLASSES), *rgb.shape[:2]), np.float32)
        half = rgb.shape[1] // 2
        out[PSEUDO_CLASSES.index("dog"), :, :half] = 0.7
        out[PSEUDO_CLASSES.index("cat"), :, :half] = 0.3
        out[PSEUDO_CLASSES.index("landscape"), :, half:] = 1.0
        return out

    def cutout_category(self, rgba: np.ndarray, allowed: list[int]) -> int:
        return allowed[0]


def test_real_categories_on_a_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fixture_cache(tmp_path)
    labeler = FakeLabeler()
    ds = RealCategories(tmp_path, "train", size=(64, 64), length=8, labeler=labeler)  # type: ignore[arg-type]
    store = tmp_path / "pseudo" / LabelRule().key
    assert labeler.photos == len(list(store.glob("*.png"))) > 0
    cut = json.loads((store / "cutouts.json").read_text())
    assert all(COMPOSITE_CLASS.get(c) in ("animal", "vehicle") for c in cut.values())
    assert (store / "rule.json").is_file()
    dog, land = PSEUDO_CLASSES.index("dog"), PSEUDO_CLASSES.index("landscape")
    scene, composite = ds[0], ds[1]
    assert scene["image"].shape == (64, 64, 3) and scene["seg"].dtype == np.int64
    assert set(np.unique(scene["seg"])) <= {dog, land}
    # a composite: its background's object labels (dog) are ignored, its cut-outs take their category
    c = Composites(tmp_path, "train", size=(64, 64), length=8)
    _, pastes, _ = c.compose_on(1)
    seg = composite["seg"]
    assert dog not in set(np.unique(seg[~np.any([p.mask for p in pastes], axis=0)]))
    top = pastes[-1]
    assert (seg[top.mask] == PSEUDO_CLASSES.index(cut[top.file])).all()
    # cached: a second dataset asks no teacher
    RealCategories(tmp_path, "train", size=(64, 64), length=8, labeler=None)
    with pytest.raises(ValueError, match="split"):
        RealCategories(tmp_path, "nope")


def test_sampled_labels_follow_the_probabilities() -> None:
    probs = np.zeros((3, 200, 200), np.float32)
    probs[0], probs[2] = 0.25, 0.75  # class 1 never
    labels = sample_labels(probs, np.random.default_rng(0))
    assert labels.dtype == np.int64 and set(np.unique(labels)) == {0, 2}
    assert abs((labels == 0).mean() - 0.25) < 0.01
    assert not (sample_labels(probs, np.random.default_rng(1)) == labels).all()  # a new draw per rng


def test_soft_real_categories_store_probabilities_and_draw_labels(tmp_path: Path) -> None:
    _fixture_cache(tmp_path)
    labeler = FakeLabeler()
    rule = LabelRule(soft=True)
    assert rule.key != LabelRule().key
    ds = RealCategories(tmp_path, "train", size=(64, 64), length=8, labeler=labeler, rule=rule)  # type: ignore[arg-type]
    store = tmp_path / "pseudo" / rule.key
    stored = sorted(store.glob("*.npz"))
    assert labeler.photos == len(stored) > 0 and not list(store.glob("*.png"))
    probs = cached_probs(tmp_path / "scenes" / f"{stored[0].stem}.jpg", store, None)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    dog, cat, land = (PSEUDO_CLASSES.index(c) for c in ("dog", "cat", "landscape"))
    for i in range(8):  # every sample, flipped crops included, is a plain array a tensor can wrap
        assert ds[i]["seg"].flags.c_contiguous and ds[i]["seg"].dtype == np.int64
    seen = np.concatenate([ds[i]["seg"].ravel() for i in range(0, 8, 2)])  # scenes
    assert set(np.unique(seen)) <= {dog, cat, land, 255} and {dog, cat} <= set(np.unique(seen))
    assert 1.5 < (seen == dog).sum() / (seen == cat).sum() < 3.5  # 0.7 : 0.3
    assert (ds[0]["seg"] == RealCategories(tmp_path, "train", size=(64, 64), length=8, labeler=None,
                                           rule=rule)[0]["seg"]).all()  # cached, and a pure function of the index
