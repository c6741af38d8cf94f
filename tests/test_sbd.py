"""SBD and VOC 2012 train_aug on fixtures written in the published layouts (``cls/*.mat`` via savemat)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from pixelnet.data import SBD, DatasetError, VOCAug, build_dataset, dataset_classes
from pixelnet.datasets.pascal import VOC_CLASSES
from pixelnet.engine.datasets import open_dataset

H, W = 6, 8


def _jpg(path: Path, size: tuple[int, int] = (H, W)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), 120, np.uint8)).save(path)


def _label(value: int, size: tuple[int, int] = (H, W)) -> np.ndarray:
    label = np.zeros(size, np.uint8)
    label[1:3, 2:5] = value
    return label


def _sbd_mat(path: Path, seg: np.ndarray) -> None:
    """An SBD ``cls/<id>.mat``: struct GTcls with Segmentation, Boundaries and CategoriesPresent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    present = np.unique(seg[seg > 0]).astype(np.uint8)
    savemat(str(path), {"GTcls": {"Segmentation": seg, "Boundaries": np.zeros((len(present), 1)),
                                  "CategoriesPresent": present}})


def write_sbd(root: Path, splits: dict[str, dict[str, int]]) -> Path:
    """``root/benchmark_RELEASE/dataset`` with ``img/``, ``cls/`` and one list per split (id -> class)."""
    base = root / "benchmark_RELEASE" / "dataset"
    for split, items in splits.items():
        for image_id, value in items.items():
            _jpg(base / "img" / f"{image_id}.jpg")
            _sbd_mat(base / "cls" / f"{image_id}.mat", _label(value))
        (base / f"{split}.txt").write_text("".join(f"{i}\n" for i in items))
    (base / "inst").mkdir(exist_ok=True)
    return base


def write_voc(root: Path, splits: dict[str, dict[str, int]]) -> Path:
    """``root/VOCdevkit/VOC2012`` with palette-free label PNGs whose border is void (255)."""
    base = root / "VOCdevkit" / "VOC2012"
    lists = base / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True, exist_ok=True)
    for split, items in splits.items():
        for image_id, value in items.items():
            _jpg(base / "JPEGImages" / f"{image_id}.jpg")
            label = _label(value)
            label[0] = 255  # VOC marks object borders void; SBD does not
            (base / "SegmentationClass").mkdir(exist_ok=True)
            Image.fromarray(label, "L").save(base / "SegmentationClass" / f"{image_id}.png")
        (lists / f"{split}.txt").write_text("".join(f"{i}\n" for i in items))
    return base


def test_sbd_reads_gtcls_segmentation(tmp_path: Path) -> None:
    base = write_sbd(tmp_path, {"train": {"2008_000002": 15, "2008_000003": 7}, "val": {"2008_000004": 1}})
    for root in (tmp_path, tmp_path / "benchmark_RELEASE", base):
        ds = SBD(root, "train")
        assert len(ds) == 2 and ds.ids == ["2008_000002", "2008_000003"]
    s = SBD(tmp_path, "train")[0]
    assert set(s) == {"image", "seg", "name"} and s["name"] == "2008_000002"
    assert s["seg"].dtype == np.int64 and s["seg"].shape == (H, W) and s["image"].shape == (H, W, 3)
    assert np.array_equal(s["seg"], _label(15)) and VOC_CLASSES[15] == "person"
    assert len(SBD(tmp_path, "val")) == 1
    assert dataset_classes("sbd") == VOC_CLASSES
    assert isinstance(build_dataset("sbd", root=str(tmp_path), split="val"), SBD)
    with pytest.raises(ValueError, match="split"):
        SBD(tmp_path, "test")


def test_sbd_refuses_bad_files(tmp_path: Path) -> None:
    base = write_sbd(tmp_path, {"train": {"a": 3}})
    bad = _label(3)
    bad[0, 0] = 21
    _sbd_mat(base / "cls" / "a.mat", bad)
    with pytest.raises(DatasetError, match=r"a.mat.*\[21\]"):
        SBD(tmp_path, "train")[0]
    savemat(str(base / "cls" / "a.mat"), {"GTinst": {"Segmentation": _label(3)}})
    with pytest.raises(DatasetError, match="GTcls.Segmentation"):
        SBD(tmp_path, "train")[0]
    (base / "cls" / "a.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match="a.mat"):
        SBD(tmp_path, "train")[0]
    (base / "cls" / "a.mat").unlink()
    with pytest.raises(DatasetError, match="a.mat"):
        SBD(tmp_path, "train")[0]
    _sbd_mat(base / "cls" / "a.mat", _label(3, (H + 1, W)))
    with pytest.raises(DatasetError):
        SBD(tmp_path, "train")[0]
    with pytest.raises(DatasetError, match="SBD not found"):
        SBD(tmp_path / "benchmark_RELEASE" / "dataset" / "img", "train")


def test_voc_aug_is_sbd_and_voc_train_minus_voc_val(tmp_path: Path) -> None:
    # VOC: train {t1, t2, s1}, val {v1, v2}; SBD: train {s1, s2, v1}, val {s3, t1, v2}
    write_voc(tmp_path, {"train": {"t1": 1, "t2": 2, "s1": 4}, "val": {"v1": 5, "v2": 6}})
    write_sbd(tmp_path, {"train": {"s1": 9, "s2": 10, "v1": 11}, "val": {"s3": 12, "t1": 13, "v2": 14}})
    train = VOCAug(tmp_path, "train")
    assert train.ids == ["t1", "t2", "s1", "s2", "s3"]  # VOC val (v1, v2) excluded, no duplicates
    assert train.sources == ["voc", "voc", "voc", "sbd", "sbd"]
    by_name = {train[i]["name"]: train[i]["seg"] for i in range(len(train))}
    assert (by_name["t1"][0] == 255).all() and by_name["t1"][1, 2] == 1  # VOC's label where VOC has one
    assert by_name["s1"][1, 2] == 4
    assert np.array_equal(by_name["s2"], _label(10)) and by_name["s3"][1, 2] == 12  # SBD's elsewhere
    val = VOCAug(tmp_path, "val")
    assert val.ids == ["v1", "v2"] and val[0]["seg"][1, 2] == 5
    assert dataset_classes("voc-aug") == VOC_CLASSES
    ds = open_dataset("voc-aug", task="seg", split="train", root=tmp_path)
    assert len(ds) == 5


def test_voc_aug_needs_sbd(tmp_path: Path) -> None:
    write_voc(tmp_path, {"train": {"t1": 1}, "val": {"v1": 5}})
    with pytest.raises(DatasetError, match="voc-aug needs SBD"):
        VOCAug(tmp_path, "train")
    assert len(VOCAug(tmp_path, "val")) == 1  # val is VOC's own
