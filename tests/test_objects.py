"""Issue #25: *where* pseudo-labels, naming objects with the teacher, the object model, and its scores."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from pixelnet import ModelConfig, build_model, save_model
from pixelnet.distill import ObjectRule, RealObjects, TeacherMaps, where_targets
from pixelnet.evaluation import ObjectMeter, evaluate_photos
from pixelnet.objects import WHERE_CLASSES, ObjectModel, name_objects
from pixelnet.teachers import CATEGORIES, load_reference
from pixelnet.zoo import load_model_or_reference

K = len(CATEGORIES)
C = {name: i for i, name in enumerate(CATEGORIES)}


def one_hot(h: int, w: int, category: str, p: float = 1.0) -> np.ndarray:
    q = np.full((K, h, w), (1 - p) / (K - 1), np.float32)
    q[C[category]] = p
    return q


def test_where_targets_mark_objects_people_and_ignore_the_unsure() -> None:
    salient = np.zeros((40, 40), np.float32)
    salient[10:30, 10:30] = 1.0
    salient[0:4, 0:4] = 0.5  # unsure
    person = np.zeros_like(salient)
    person[12:20, 12:20] = 0.9
    person[35:38, 35:38] = 0.4  # the person model's uncertain band
    labels = where_targets(salient, person, ObjectRule(band=2))
    assert labels[20, 25] == 1 and labels[15, 15] == 2 and labels[35, 5] == 0
    assert labels[1, 1] == 255 and labels[36, 36] == 255
    assert labels[10, 20] == 255 and labels[8, 20] == 255 and labels[7, 20] == 0  # a 2 px band at the edge
    assert set(np.unique(where_targets(salient, None))) <= {0, 1, 255}


def test_name_objects_pools_the_teacher_over_each_object_region() -> None:
    h, w = 30, 60
    where = np.zeros((3, h, w), np.float32)
    where[0] = 1.0
    where[:, 5:25, 5:25] = np.array([0.0, 1.0, 0.0])[:, None, None]  # a fish
    where[:, 5:25, 35:55] = np.array([0.1, 0.0, 0.9])[:, None, None]  # a person
    q = one_hot(h, w, "landscape", 0.8)  # a confident landscape around them
    q[:, 5:25, 5:25] = one_hot(20, 20, "sea life", 0.6)
    q[:, 5:10, 5:25] = one_hot(5, 20, "insect", 0.45)  # a quarter of the fish's cells say insect, unsure
    q[:, 0:3, 0:60] = one_hot(3, 60, "landscape", 0.3)  # an unsure strip: other
    out = name_objects(where, q, CATEGORIES)
    assert out.shape == (K + 1, h, w) and np.allclose(out.sum(0), 1.0, atol=1e-5)
    labels = out.argmax(0)
    assert (labels[5:25, 5:25] == C["sea life"]).all()  # the whole region, insect cells included
    assert (labels[5:25, 35:55] == K).all()  # person
    assert labels[28, 30] == C["landscape"] and labels[1, 30] == C["other"]


def test_name_objects_splits_a_region_holding_two_kinds_of_things() -> None:
    where = np.zeros((3, 20, 40), np.float32)
    where[1] = 1.0  # one region over everything
    q = np.concatenate([one_hot(20, 20, "dog", 0.9), one_hot(20, 20, "vehicle", 0.7)], axis=2)
    labels = name_objects(where, q, CATEGORIES).argmax(0)
    assert (labels[:, :20] == C["dog"]).all() and (labels[:, 20:] == C["vehicle"]).all()
    # a small confident patch of another kind does not split it
    q2 = one_hot(20, 40, "dog", 0.9)
    q2[:, :4, :4] = one_hot(4, 4, "vehicle", 0.9)[:, :, :]
    assert (name_objects(where, q2, CATEGORIES).argmax(0) == C["dog"]).all()


def test_name_objects_calls_an_object_region_named_clothing_a_person() -> None:
    where = np.zeros((3, 20, 40), np.float32)
    where[0] = 1.0
    where[:, 2:18, 2:18] = np.array([0.1, 0.9, 0.0])[:, None, None]  # the where model says object ...
    where[:, 2:18, 22:38] = np.array([0.1, 0.9, 0.0])[:, None, None]
    q = one_hot(20, 40, "landscape", 0.8)
    q[:, 2:18, 2:18] = one_hot(16, 16, "clothing", 0.6)  # ... the teacher names this one clothing
    q[:, 2:18, 22:38] = one_hot(16, 16, "dog", 0.6)
    out = name_objects(where, q, CATEGORIES)
    assert np.allclose(out.sum(0), 1.0, atol=1e-5)
    labels = out.argmax(0)
    assert (labels[2:18, 2:18] == K).all() and (labels[2:18, 22:38] == C["dog"]).all()
    assert np.allclose(out[K, 2:18, 2:18], 0.9)
    kept = name_objects(where, q, CATEGORIES, person_categories=()).argmax(0)  # the rule can be turned off
    assert (kept[2:18, 2:18] == C["clothing"]).all()
    # a region split in two kinds of things: its clothing half is a person, its dog half a dog
    one = np.zeros((3, 20, 40), np.float32)
    one[1] = 1.0
    q2 = np.concatenate([one_hot(20, 20, "dog", 0.9), one_hot(20, 20, "clothing", 0.7)], axis=2)
    split = name_objects(one, q2, CATEGORIES).argmax(0)
    assert (split[:, :20] == C["dog"]).all() and (split[:, 20:] == K).all()


def test_object_meter_known_answers() -> None:
    names = [*CATEGORIES, "person"]
    salient = np.zeros((50, 50), np.float32)
    salient[10:40, 10:40] = 1.0
    labels = np.full((50, 50), C["other"])
    labels[10:40, 10:25] = C["sea life"]  # half the fish
    meter = ObjectMeter(names, band=0)
    row = meter.update(labels, salient, folder="fish")
    assert row["category"] == "sea life" and row["correct"] is True
    assert row["object_iou"] == pytest.approx(0.5)
    row = meter.update(np.full((50, 50), C["insect"]), salient, folder="fish")
    assert row["correct"] is False and row["object_iou"] == pytest.approx(900 / 2500)
    person = np.zeros_like(salient)
    person[0:10, 0:10] = 1.0
    lab = np.full((50, 50), C["other"])
    lab[0:10, 0:5] = names.index("person")
    row = meter.update(lab, salient, person, folder="renewable")
    assert row["correct"] is None and row["category"] is None and row["person_iou"] == pytest.approx(0.5)
    m = meter.compute()
    assert m["category_acc"] == pytest.approx(0.5) and m["category_n"] == 2 and m["person_n"] == 1
    assert 0 < m["boundary_f"] < 1


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fetch cache with three labelled photos, their teachers' maps stored by fake teachers."""
    root = tmp_path_factory.mktemp("cache")
    (root / "photos").mkdir()
    photos = []
    for i, (split, label) in enumerate([("train", "fish"), ("train", "tool"), ("test", "fish")]):
        rgb = np.zeros((60, 80, 3), np.uint8)
        rgb[15:45, 20:60] = (200, 120 + 40 * i, 40)
        Image.fromarray(rgb).save(root / "photos" / f"p{i}.jpg")
        photos.append({"file": f"photos/p{i}.jpg", "label": label, "split": split})
    (root / "photos" / "manifest.json").write_text(json.dumps({"photos": photos}))

    def salient(rgb: np.ndarray) -> np.ndarray:
        return (rgb[..., 0] > 100).astype(np.float32)

    maps = TeacherMaps(root / "teacher_maps", salient=salient, person=lambda rgb: np.zeros(rgb.shape[:2], np.float32),
                       categories=lambda rgb: one_hot(*rgb.shape[:2], "sea life", 0.9))
    for p in photos:
        maps(root / p["file"])
    return root


def test_real_objects_samples_are_augmented_crops_with_where_labels(cache: Path) -> None:
    ds = RealObjects(cache, "train", size=(32, 48), length=6)
    assert ds.classes == WHERE_CLASSES and [f.name for f in ds.files] == ["p0.jpg", "p1.jpg"]
    a, b = ds[3], ds[3]
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["seg"], b["seg"])  # deterministic
    assert a["image"].shape == (32, 48, 3) and a["image"].dtype == np.uint8 and a["seg"].shape == (32, 48)
    seen = np.unique(np.concatenate([ds[i]["seg"].ravel() for i in range(6)]))
    assert set(seen) <= {0, 1, 255} and {0, 1} <= set(seen)
    assert (cache / "teacher_maps" / f"rule.{ObjectRule().key}.json").is_file()
    with pytest.raises(ValueError, match="unknown real-objects split"):
        RealObjects(cache, "everything")


def test_teacher_maps_refuse_to_compute_when_told_not_to(cache: Path, tmp_path: Path) -> None:
    maps = TeacherMaps(tmp_path / "empty")
    with pytest.raises(Exception, match="label_photos"):
        maps(cache / "photos" / "p0.jpg", compute=False)


@pytest.fixture(scope="module")
def object_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = ModelConfig(task="seg", backbone="efficientnet_lite0", taps=["s32", "head"], mlp_widths=[8], dropout=0.0,
                      class_names=list(WHERE_CLASSES), what="imagenet-dense")
    out = tmp_path_factory.mktemp("where")
    save_model(build_model(cfg, pretrained=True), out, backbone="pretrained")
    return out


def test_a_where_model_loads_with_its_teacher_and_names_objects_from_the_same_pass(object_model_dir: Path) -> None:
    model = load_model_or_reference(object_model_dir)
    assert isinstance(model, ObjectModel) and model.task == "seg"
    assert model.config.class_names == [*CATEGORIES, "person"]
    rgb = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "assets/examples/chelsea.jpg").convert("RGB")
                     .resize((96, 64)))
    pred = model.predictor(device="cpu", max_side=256)
    out = pred.predict(rgb)["seg"]
    assert out.shape == (K + 1, 64, 96) and np.allclose(out.sum(0), 1.0, atol=1e-4)
    # the categories come from the where model's own backbone pass: the raw teacher's, exactly
    teacher = load_reference("imagenet-dense").predictor(device="cpu", max_side=256)
    assert np.allclose(pred.categories((1.0,)), teacher.predict(rgb, scales=(1.0,))["seg"], atol=1e-5)
    with pytest.raises(ValueError, match="seg only"):
        pred.predict(rgb, tasks=["normals"])


def test_evaluate_photos_scores_the_raw_teacher_on_the_test_photos(cache: Path) -> None:
    metrics, rows = evaluate_photos(load_reference("imagenet-dense"), cache, split="test")
    assert [r["name"] for r in rows] == ["p2.jpg"] and metrics["category_n"] == 1
    assert 0.0 <= metrics["object_iou"] <= 1.0 and np.isnan(metrics["person_iou"])


def test_eval_cli_scores_real_photos_in_one_table(cache: Path, load_script, tmp_path: Path, capsys) -> None:
    ev = load_script("eval")
    out = tmp_path / "photos.json"
    args = ev.get_args_parser().parse_args(["--model", "imagenet-dense", "--data", "real-photos", "--data-root",
                                            str(cache), "--json", str(out), "--quiet"])
    assert ev.main(args) == 0
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())
    m = results["imagenet-dense"]
    assert m["category_n"] == 1 and [r["name"] for r in m["photos"]] == ["p2.jpg"]
    assert f"| imagenet-dense | {m['category_acc']:.3f} (1) | {m['object_iou']:.3f} (1) |" in printed
    assert "salient regions: 1;" in printed and results["_clothing_regions"]["regions"] == 1


def test_right_class_iou_and_the_held_out_table(cache: Path, load_script, tmp_path: Path, monkeypatch,
                                               capsys) -> None:
    from pixelnet.evaluation import right_class_iou

    class Fixed:  # a seg "model" that calls the photo's orange box (where the salient mask is) sea life
        config = SimpleNamespace(class_names=["other", "sea life", "person"])
        task = "seg"

        def predictor(self, **kw):
            class P:
                def set_image(self, image):
                    self.image = np.asarray(image)
                    return self.image

                def predict(self, image=None, *, scales=(1.0,), tasks=None):
                    img = self.image if image is None else np.asarray(image)
                    out = np.zeros((3, *img.shape[:2]), np.float32)
                    out[1] = img[..., 0] > 100
                    out[0] = 1 - out[1]
                    return {"seg": out}

                image_scale = 1.0
                tasks = ["seg"]
            return P()

    photo = cache / "photos" / "p2.jpg"
    row = right_class_iou(Fixed(), [(photo, ("sea life",))], cache, band=0)
    assert row["p2"] == pytest.approx(1.0) and row["mean"] == pytest.approx(1.0)
    assert right_class_iou(Fixed(), [(photo, ("cat",))], cache)["p2"] == 0.0  # a class the model lacks
    ev = load_script("eval")
    shipped = [p.name for p, _ in ev.held_out_photos()]
    monkeypatch.setattr(ev, "held_out_photos", lambda: [(photo, ("sea life",))])
    args = ev.get_args_parser().parse_args(["--model", "imagenet-dense", "--data", "real-photos", "--data-root",
                                            str(cache), "--held-out", "--quiet", "--json", str(tmp_path / "r.json")])
    assert ev.main(args) == 0
    held = json.loads((tmp_path / "r.json").read_text())["_held_out"]["imagenet-dense"]
    assert set(held) == {"p2", "mean"} and 0.0 <= held["p2"] <= 1.0
    assert f"| imagenet-dense | {held['p2']:.3f} | {held['mean']:.3f} |" in capsys.readouterr().out
    assert shipped[:5] == ["chelsea.jpg", "coffee.jpg", "motorcycle.jpg", "rocket.jpg", "astronaut.jpg"]


def test_category_targets_name_the_salient_region_and_keep_the_ignores(cache: Path) -> None:
    from pixelnet.distill import PhotoMaps, category_targets

    salient = np.zeros((30, 30), np.float32)
    salient[5:25, 5:25] = 1.0
    q = one_hot(30, 30, "landscape", 0.3)  # unsure background: other
    q[:, 5:25, 5:25] = one_hot(20, 20, "tool", 0.7)
    labels = category_targets(PhotoMaps(salient, np.zeros_like(salient), q), ObjectRule(band=2))
    assert labels[15, 15] == C["tool"] and labels[1, 15] == C["other"] and labels[5, 15] == 255
    ds = RealObjects(cache, "train", size=(32, 32), length=2, targets="categories")
    assert ds.classes == (*CATEGORIES, "person")
    assert set(np.unique(ds[0]["seg"])) <= {C["sea life"], C["other"], C["landscape"], C["building"], C["plant"], 255}


def test_clothing_regions_counts_regions_named_clothing_that_are_people() -> None:
    from pixelnet.distill import PhotoMaps
    from pixelnet.evaluation import clothing_regions

    salient = np.zeros((40, 40), np.float32)
    salient[5:15, 5:15] = salient[25:35, 25:35] = 1.0
    q = one_hot(40, 40, "other", 0.9)
    q[:, 5:15, 5:15] = one_hot(10, 10, "clothing", 0.6)
    q[:, 25:35, 25:35] = one_hot(10, 10, "clothing", 0.6)
    person = np.zeros_like(salient)
    person[5:15, 5:15] = 1.0  # one of the two is a person
    c = clothing_regions([PhotoMaps(salient, person, q)], CATEGORIES)
    assert c == {"regions": 2, "clothing": 2, "clothing_person": 1, "person": 1, "person_clothing": 1}


def test_teacher_maps_of_a_photo_whose_pixels_changed_are_computed_again(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    Image.fromarray(np.full((30, 40, 3), 50, np.uint8)).save(photo)
    calls: list[int] = []

    def salient(rgb: np.ndarray) -> np.ndarray:
        calls.append(rgb.shape[0])
        return np.zeros(rgb.shape[:2], np.float32)

    maps = TeacherMaps(tmp_path / "maps", salient=salient, person=lambda rgb: np.zeros(rgb.shape[:2], np.float32),
                       categories=lambda rgb: one_hot(*rgb.shape[:2], "sea life", 0.9))
    assert maps(photo).salient.shape == (30, 40) and maps.has(photo) and calls == [30]
    maps(photo)
    assert calls == [30]  # stored
    Image.fromarray(np.full((40, 30, 3), 50, np.uint8)).save(photo)  # fetched again, turned upright
    assert not maps.has(photo) and maps(photo).salient.shape == (40, 30) and calls == [30, 40]
    # maps stored before the digest was kept: taken when their size is the photo's
    (tmp_path / "maps" / "p.photo.sha256").unlink()
    assert maps.has(photo) and (tmp_path / "maps" / "p.photo.sha256").is_file()
    (tmp_path / "maps" / "p.photo.sha256").unlink()
    Image.fromarray(np.full((30, 40, 3), 50, np.uint8)).save(photo)
    assert not maps.has(photo)


def test_real_objects_draws_the_share_of_samples_it_is_told_from_photos_with_people(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    photos = []
    for i in range(4):
        rgb = np.full((40, 40, 3), 30 * i, np.uint8)
        Image.fromarray(rgb).save(tmp_path / "photos" / f"p{i}.jpg")
        photos.append({"file": f"photos/p{i}.jpg", "label": "", "split": "train"})
    (tmp_path / "photos" / "manifest.json").write_text(json.dumps({"photos": photos}))

    def person(rgb: np.ndarray) -> np.ndarray:  # a person on the brightest photo only
        out = np.zeros(rgb.shape[:2], np.float32)
        if rgb.mean() > 80:
            out[10:30, 10:30] = 1.0
        return out

    maps = TeacherMaps(tmp_path / "maps", salient=lambda rgb: np.zeros(rgb.shape[:2], np.float32), person=person,
                       categories=lambda rgb: one_hot(*rgb.shape[:2], "clothing", 0.9))
    people = RealObjects(tmp_path, "train", size=(16, 16), length=40, maps=maps, person_share=1.0, jitter=False)
    assert [people.files[k].name for k in people.with_people] == ["p3.jpg"]
    assert all(abs(int(people[i]["image"].max()) - 90) <= 2 for i in range(40))
    none = RealObjects(tmp_path, "train", size=(16, 16), length=40, maps=maps, person_share=0.0, jitter=False)
    assert not any(abs(int(none[i]["image"].max()) - 90) <= 2 for i in range(40))
    uniform = RealObjects(tmp_path, "train", size=(16, 16), length=200, maps=maps, person_share=None, jitter=False)
    share = np.mean([abs(int(uniform[i]["image"].max()) - 90) <= 2 for i in range(200)])
    assert 0.15 < share < 0.35
    with pytest.raises(ValueError, match="person_share"):
        RealObjects(tmp_path, "train", maps=maps, person_share=1.5)
