"""Real-dataset loaders on tiny fixtures written in the published formats, and the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from pixelnet.data import (
    BSDS500,
    DATASET_TASKS,
    DATASETS,
    EVAL_ONLY_DATASETS,
    HEDBSDS,
    PASCAL_CONTEXT_CLASSES,
    SYNTH_CLASSES,
    TRAIN_DATASETS,
    VOC2012,
    VOC_CLASSES,
    DatasetError,
    NYUv2Normals,
    PascalContext,
    SynthScenes,
    build_dataset,
    dataset_classes,
)

H, W = 6, 8


def _jpg(path: Path, colour: tuple[int, int, int] = (200, 40, 90), size: tuple[int, int] = (H, W)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), colour, dtype=np.uint8)).save(path, quality=95)


def _png(path: Path, array: np.ndarray, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array.astype(np.uint8), mode="L")
    if mode == "P":
        image = image.convert("P")
        image.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    elif mode == "RGB":
        image = image.convert("RGB")
    image.save(path)


def _bsds_mat(path: Path, boundaries: list[np.ndarray]) -> None:
    """A groundTruth .mat like BSDS500's: a 1 x A cell array of structs (Segmentation, Boundaries)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = np.empty((1, len(boundaries)), dtype=object)
    for a, b in enumerate(boundaries):
        cells[0, a] = {"Segmentation": (b.cumsum(1) + 1).astype(np.uint16), "Boundaries": b.astype(np.uint8)}
    savemat(path, {"groundTruth": cells})


def _votes_fixture() -> list[np.ndarray]:
    """Five annotators: pixel (0, 0) has 0 votes, (1, 1) has 2, (2, 2) has 3, (3, 3) has 5."""
    maps = [np.zeros((H, W), dtype=bool) for _ in range(5)]
    for a in range(2):
        maps[a][1, 1] = True
    for a in range(3):
        maps[a][2, 2] = True
    for a in range(5):
        maps[a][3, 3] = True
    return maps


@pytest.fixture()
def bsds_root(tmp_path: Path) -> Path:
    data = tmp_path / "BSR" / "BSDS500" / "data"
    for split, ids in (("train", ("100075", "12003")), ("val", ("3096",))):
        for image_id in ids:
            _jpg(data / "images" / split / f"{image_id}.jpg")
            _bsds_mat(data / "groundTruth" / split / f"{image_id}.mat", _votes_fixture())
    (data / "images" / "train" / "Thumbs.db").write_bytes(b"")  # shipped in the real archive
    return tmp_path


def test_bsds500_labels_follow_consensus(bsds_root: Path) -> None:
    ds = BSDS500(bsds_root, "train")
    assert len(ds) == 2 and len(BSDS500(bsds_root, "val")) == 1
    s = ds[0]
    assert s["name"] == "100075" and s["image"].shape == (H, W, 3) and s["image"].dtype == np.uint8
    assert s["edges_gt"].shape == (5, H, W) and s["edges_gt"].dtype == bool
    assert s["edges"].dtype == np.uint8
    assert [s["edges"][i, i] for i in range(4)] == [0, 255, 1, 1]
    assert (s["edges"] == 1).sum() == 2 and (s["edges"] == 255).sum() == 1
    assert BSDS500(bsds_root, "train", consensus=2)[0]["edges"][1, 1] == 1
    assert set(s) == {"image", "edges", "edges_gt", "name"}


def test_bsds500_accepts_inner_root_and_single_annotator(bsds_root: Path) -> None:
    data = bsds_root / "BSR" / "BSDS500" / "data"
    _bsds_mat(data / "groundTruth" / "val" / "3096.mat", [np.eye(H, W, dtype=bool)])
    s = BSDS500(data, "val", consensus=1)[0]
    assert s["edges_gt"].shape == (1, H, W) and np.array_equal(s["edges"], np.eye(H, W, dtype=np.uint8))


def test_bsds500_errors_name_the_file(bsds_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="BSDS500 not found"):
        BSDS500(tmp_path / "nowhere", "train")
    gt = bsds_root / "BSR" / "BSDS500" / "data" / "groundTruth" / "train"
    (gt / "12003.mat").unlink()
    with pytest.raises(DatasetError, match="12003.mat"):
        BSDS500(bsds_root, "train")[1]
    savemat(gt / "12003.mat", {"gt": np.zeros((2, 2))})
    with pytest.raises(DatasetError, match="groundTruth"):
        BSDS500(bsds_root, "train")[1]
    _bsds_mat(gt / "12003.mat", [np.zeros((H + 1, W), dtype=bool)])
    with pytest.raises(DatasetError, match="size"):
        BSDS500(bsds_root, "train")[1]
    with pytest.raises(ValueError, match="split"):
        BSDS500(bsds_root, "training")


def test_hed_bsds_pairs_and_test_list(tmp_path: Path) -> None:
    root = tmp_path / "HED-BSDS"
    label = np.zeros((H, W))
    label[0, 1], label[0, 2], label[0, 3] = 100, 128, 255
    for aug in ("0.0_1_0", "90.0_1_1"):
        _jpg(root / "train" / "aug_data" / aug / "100075.jpg")
        _png(root / "train" / "aug_gt" / aug / "100075.png", label)
    (root / "train_pair.lst").write_text(
        "train/aug_data/0.0_1_0/100075.jpg train/aug_gt/0.0_1_0/100075.png\n"
        "train/aug_data/90.0_1_1/100075.jpg train/aug_gt/90.0_1_1/100075.png\n")
    _jpg(root / "test" / "2018.jpg")
    (root / "test.lst").write_text("test/2018.jpg\n")
    ds = HEDBSDS(tmp_path)
    assert len(ds) == 2 and ds[0]["name"] != ds[1]["name"]
    s = ds[1]
    assert s["edges"][0, :4].tolist() == [0, 255, 1, 1] and s["edges_gt"].shape == (1, H, W)
    assert s["edges_gt"][0].sum() == 2
    test = build_dataset("hed-bsds", root=root, split="test")
    assert set(test[0]) == {"image", "name"}
    (root / "bad.lst").write_text("a b c\n")
    with pytest.raises(DatasetError, match="bad.lst:1"):
        HEDBSDS(root, list_file="bad.lst")


@pytest.fixture()
def nyu_root(tmp_path: Path) -> Path:
    root = tmp_path / "nyuv2"
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("val", 2)):
        for i in range(count):
            normal = rng.normal(size=(H, W, 3)) * 2
            normal[0] = 0  # invalid first row
            depth = rng.uniform(0.5, 5, size=(H, W, 1))
            depth[0, 0] = 0
            label = rng.integers(-1, 13, size=(H, W)).astype(np.float32)
            for kind, array in (("image", rng.random((H, W, 3))), ("normal", normal), ("depth", depth),
                                ("label", label)):
                (root / split / kind).mkdir(parents=True, exist_ok=True)
                np.save(root / split / kind / f"{i}.npy", array)
    return tmp_path


def test_nyuv2_mtan_layout(nyu_root: Path) -> None:
    ds = NYUv2Normals(nyu_root, "train")
    assert len(ds) == 3 and len(NYUv2Normals(nyu_root / "nyuv2", "val")) == 2
    s = ds[2]
    raw = np.load(nyu_root / "nyuv2" / "train" / "normal" / "2.npy")
    assert s["name"] == "train-2" and s["image"].dtype == np.uint8 and s["image"].shape == (H, W, 3)
    assert s["normals"].dtype == np.float32 and s["valid"].dtype == bool
    assert not s["valid"][0].any() and s["valid"][1:].all() and (s["normals"][0] == 0).all()
    assert np.allclose(np.linalg.norm(s["normals"][1:], axis=-1), 1, atol=1e-5)
    assert np.allclose(s["normals"][1:], raw[1:] / np.linalg.norm(raw[1:], axis=-1, keepdims=True), atol=1e-5)
    raw_label = np.load(nyu_root / "nyuv2" / "train" / "label" / "2.npy")
    assert s["seg"].dtype == np.int64 and (s["seg"][raw_label < 0] == 255).all()
    assert s["depth"].shape == (H, W) and s["depth"][0, 0] == 0
    flipped = NYUv2Normals(nyu_root, "train", normal_signs=(1, -1, 1))[2]["normals"]
    assert np.allclose(flipped[..., 1], -s["normals"][..., 1])


def test_nyuv2_optional_files_and_errors(nyu_root: Path) -> None:
    base = nyu_root / "nyuv2" / "train"
    (base / "label" / "1.npy").unlink()
    assert "seg" not in NYUv2Normals(nyu_root, "train")[1]
    (base / "normal" / "0.npy").unlink()
    with pytest.raises(DatasetError, match="0.npy"):
        NYUv2Normals(nyu_root, "train")[0]
    np.save(base / "normal" / "0.npy", np.zeros((H, W)))
    with pytest.raises(DatasetError, match="normals"):
        NYUv2Normals(nyu_root, "train")[0]


def _voc_like(root: Path, label_dir: str, list_dir: str, split: str, labels: dict[str, np.ndarray],
              mode: str) -> None:
    for image_id, label in labels.items():
        _jpg(root / "JPEGImages" / f"{image_id}.jpg")
        _png(root / label_dir / f"{image_id}.png", label, mode)
    (root / list_dir).mkdir(parents=True, exist_ok=True)
    (root / list_dir / f"{split}.txt").write_text("".join(f"{i}\n" for i in labels))


def test_pascal_context_59_mapping(tmp_path: Path) -> None:
    label = np.zeros((H, W))
    label[0, :4] = [0, 1, 59, 255]
    voc2010 = tmp_path / "VOCdevkit" / "VOC2010"
    _voc_like(voc2010, "SegmentationClassContext", "ImageSets/SegmentationContext", "train",
              {"2008_000002": label}, "L")
    s = PascalContext(tmp_path, "train")[0]
    assert s["name"] == "2008_000002" and s["seg"].dtype == np.int64
    assert s["seg"][0, :4].tolist() == [255, 0, 58, 255] and (s["seg"][1:] == 255).all()
    assert len(PASCAL_CONTEXT_CLASSES) == 59 and PASCAL_CONTEXT_CLASSES[0] == "aeroplane"
    label[2, 2] = 60
    _png(voc2010 / "SegmentationClassContext" / "2008_000002.png", label)
    with pytest.raises(DatasetError, match=r"2008_000002.png.*\[60\]"):
        PascalContext(voc2010, "train")[0]
    with pytest.raises(DatasetError, match="val.txt"):
        PascalContext(voc2010, "val")


def test_voc2012_palette_png(tmp_path: Path) -> None:
    label = np.zeros((H, W))
    label[1:3, 2:5] = 15
    label[0] = 255
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    _voc_like(voc, "SegmentationClass", "ImageSets/Segmentation", "val", {"2007_000033": label}, "P")
    s = VOC2012(tmp_path, "val")[0]
    assert np.array_equal(s["seg"], label.astype(np.int64)) and VOC_CLASSES[15] == "person"
    assert set(s) == {"image", "seg", "name"}
    _png(voc / "SegmentationClass" / "2007_000033.png", label, "RGB")
    with pytest.raises(DatasetError, match="mode 'RGB'"):
        VOC2012(voc, "val")[0]


def test_registry(bsds_root: Path) -> None:
    assert DATASETS == ("synth", "synth-real", "bsds500", "hed-bsds", "nyuv2", "pascal-context", "voc2012", "sbd",
                        "voc-aug", "middlebury-motorcycle", "middlebury-aloe", "composites", "composites-close",
                        "hed-distill", "synth-real+hed-distill", "real-categories", "real-categories-soft",
                        "real-objects", "real-objects-categories")
    assert set(DATASET_TASKS) == set(DATASETS)
    assert set(TRAIN_DATASETS) == set(DATASETS) - EVAL_ONLY_DATASETS and EVAL_ONLY_DATASETS < set(DATASETS)
    assert all(set(t) <= {"seg", "normals", "edges"} for t in DATASET_TASKS.values())
    assert dataset_classes("synth") == SYNTH_CLASSES and dataset_classes("bsds500") is None
    assert len(dataset_classes("voc2012")) == 21 and len(dataset_classes("pascal-context")) == 59
    ds = build_dataset("bsds500", root=str(bsds_root), split="val", consensus=2)
    assert isinstance(ds, BSDS500) and ds.consensus == 2
    synth = build_dataset("synth", root=None, split="test", size=(8, 8), length=4)
    assert isinstance(synth, SynthScenes) and len(synth) == 4
    with pytest.raises(ValueError, match="unknown dataset"):
        build_dataset("cityscapes", root=None, split="train")
    with pytest.raises(ValueError, match="unknown dataset"):
        dataset_classes("cityscapes")
    with pytest.raises(ValueError, match="root"):
        build_dataset("voc2012", root=None, split="train")
    with pytest.raises(ValueError, match="root"):
        build_dataset("synth", root="/data", split="train")


def test_open_dataset_passes_normal_signs_to_nyuv2_only(nyu_root: Path) -> None:
    """``--normal-signs`` of train/run.py and train/eval.py, through the engine's open_dataset."""
    from pixelnet.engine.cli import UsageError
    from pixelnet.engine.datasets import open_dataset

    plain = open_dataset("nyuv2", task="normals", split="train", root=nyu_root)[2]["normals"]
    flipped = open_dataset("nyuv2", task="normals", split="train", root=nyu_root, normal_signs=[-1, 1, -1])
    assert np.allclose(flipped[2]["normals"], plain * np.array([-1, 1, -1], dtype=np.float32))
    with pytest.raises(UsageError, match="three signs"):
        open_dataset("nyuv2", task="normals", split="train", root=nyu_root, normal_signs=[1, 2, 1])
    with pytest.raises(UsageError, match="nyuv2 only"):
        open_dataset("synth", task="normals", split="val", length=1, synth_size=(32, 32), normal_signs=[1, 1, 1])


def test_open_dataset_reads_a_home_relative_root(nyu_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Models record their data root as ``~/...`` (no machine paths): prior_correct and eval reopen it."""
    from pixelnet.engine.datasets import open_dataset

    monkeypatch.setenv("HOME", str(nyu_root.parent))
    ds = open_dataset("nyuv2", task="normals", split="train", root=f"~/{nyu_root.name}")
    assert ds[0]["normals"].shape[-1] == 3
