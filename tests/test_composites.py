"""Contracts of the real-object composites (``--data composites``) and of the fetch that fills
their cache, on tiny fixtures made here: solid-colour RGBA cut-outs in class folders, grey
background JPEGs and a hand-built ``.deb``."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from pixelnet.data import (
    CLOSE_UP_SCALE,
    Composites,
    DatasetError,
    build_dataset,
    composite_classes,
    dataset_classes,
    split_by_source,
)
from pixelnet.engine.cli import run_cli
from pixelnet.engine.config import parse_args
from pixelnet.fetch import real as fr
from pixelnet.io import load_model

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"animal": (255, 0, 0), "plant": (0, 255, 0), "vehicle": (0, 0, 255)}
"""Each fixture class is one saturated colour; backgrounds are grey, so colour tells class."""


def _cutout(colour: tuple[int, int, int], shape: int) -> Image.Image:
    im = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    if shape % 2:
        d.ellipse((2, 2, 37, 27), fill=(*colour, 255))
    else:
        d.rectangle((5, 3, 34, 26), fill=(*colour, 255))
    return im


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("composites")
    for cls, colour in COLOURS.items():
        (root / "cutouts" / cls).mkdir(parents=True)
        for k in range(6):
            _cutout(colour, k).save(root / "cutouts" / cls / f"src__{cls}_{k}.png")
    (root / "backgrounds").mkdir()
    rng = np.random.default_rng(0)
    for k in range(6):
        grey = 128 + rng.integers(-6, 7, (90, 120, 1))
        Image.fromarray(np.repeat(grey, 3, axis=2).astype(np.uint8)).save(root / "backgrounds" / f"bg_{k}.jpg")
    return root


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    """Pixels whose whole (2r+1)^2 neighbourhood is in ``mask``."""
    h, w = mask.shape
    p = np.pad(mask, r, constant_values=False)
    out = np.ones_like(mask)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out &= p[dy:dy + h, dx:dx + w]
    return out


def test_classes_are_background_then_the_cutout_folders(cache: Path, tmp_path: Path) -> None:
    expected = ("background", "animal", "plant", "vehicle")
    assert composite_classes(cache) == expected
    assert dataset_classes("composites", cache) == expected
    assert Composites(cache, "test").classes == expected
    with pytest.raises(ValueError, match="root"):
        dataset_classes("composites")
    with pytest.raises(DatasetError, match="cut-outs"):
        composite_classes(tmp_path)
    (tmp_path / "cutouts" / "background").mkdir(parents=True)
    _cutout((1, 2, 3), 0).save(tmp_path / "cutouts" / "background" / "x.png")
    with pytest.raises(DatasetError, match="reserved"):
        composite_classes(tmp_path)


def test_sample_has_the_seg_structure(cache: Path) -> None:
    ds = build_dataset("composites", root=cache, split="train", size=(48, 64), length=5)
    assert len(ds) == 5
    s = ds[3]
    assert set(s) == {"image", "seg", "name"} and s["name"] == "composites-train-000003"
    assert s["image"].dtype == np.uint8 and s["image"].shape == (48, 64, 3)
    assert s["seg"].dtype == np.int64 and s["seg"].shape == (48, 64)
    assert 0 <= s["seg"].min() and s["seg"].max() < 4
    with pytest.raises(IndexError):
        ds[5]


def test_masks_are_exact_and_later_pastes_occlude_earlier_ones(cache: Path) -> None:
    ds = Composites(cache, "train", size=(64, 64), length=30, max_objects=3, overlap=1.0, jitter=False)
    names = ds.classes
    occlusions = 0
    for i in range(len(ds)):
        sample, pastes = ds.compose(i)
        seg, img = sample["seg"], sample["image"].astype(int)
        expected = np.zeros_like(seg)
        for p in pastes:  # the painter's algorithm over the reported masks
            expected[p.mask] = p.label
        np.testing.assert_array_equal(seg, expected)
        for a, p in enumerate(pastes):
            later = [q for q in pastes[a + 1:] if (q.mask & p.mask).any()]
            occlusions += any(q.label != p.label for q in later)
        # independent of the reported masks: the colour of a pixel says its class
        for label, cls in enumerate(names):
            inside = _erode(seg == label, 2)
            if not inside.any():
                continue
            px = img[inside]
            if cls == "background":
                assert (px.max(1) - px.min(1)).max() < 40, "a background pixel is coloured like a cut-out"
            else:
                c = int(np.argmax(COLOURS[cls]))
                others = [k for k in range(3) if k != c]
                assert px[:, c].min() > 200 and px[:, others].max() < 60, f"{cls} pixels have another colour"
        # the 0.5 alpha threshold: where a single cut-out's box covers a pixel, the pixel is labelled
        # when it is at least half that colour over grey (channel > ~191, others < ~64)
        boxes = np.zeros((len(pastes), *seg.shape), dtype=bool)
        for k, p in enumerate(pastes):
            y0, x0, y1, x1 = p.box
            boxes[k, max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
        single = boxes.sum(0) == 1
        for k, p in enumerate(pastes):
            c = int(np.argmax(COLOURS[names[p.label]]))
            others = [j for j in range(3) if j != c]
            on, off = single & boxes[k] & (seg == p.label), single & boxes[k] & (seg == 0)
            assert (img[on][:, c] > 185).all() and (img[on][:, others] < 70).all(), "labelled under 0.5 alpha"
            assert (img[off][:, c] < 197).all() and (img[off][:, others] > 58).all(), "unlabelled over 0.5 alpha"
        assert (seg > 0).any()
    assert occlusions > 0, "overlap=1.0 produced no occlusion between different classes"


def test_splits_are_disjoint_by_source_file_and_cover_every_class(cache: Path) -> None:
    sets = {sp: Composites(cache, sp) for sp in ("train", "val", "test")}
    cut = {sp: {f.name for fs in ds.cutouts.values() for f in fs} for sp, ds in sets.items()}
    bgs = {sp: {f.name for f in ds.backgrounds} for sp, ds in sets.items()}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not cut[a] & cut[b] and not bgs[a] & bgs[b]
    assert len(set().union(*cut.values())) == 18 and len(set().union(*bgs.values())) == 6
    assert all(set(ds.cutouts) == {1, 2, 3} for ds in sets.values())  # every class in every split
    assert len(cut["test"]) == 3 and len(cut["train"]) == 12
    used = {p.file for i in range(20) for p in sets["test"].compose(i)[1]}
    assert used and used <= cut["test"]
    names = [f"f{k}.png" for k in range(10)]
    assert split_by_source(names) == split_by_source(names[::-1])  # a function of the names only


def test_samples_are_deterministic_per_index_seed_and_split(cache: Path) -> None:
    a, b = Composites(cache, "train", size=(40, 40)), Composites(cache, "train", size=(40, 40))
    for i in (0, 7):
        np.testing.assert_array_equal(a[i]["image"], b[i]["image"])
        np.testing.assert_array_equal(a[i]["seg"], b[i]["seg"])
    assert not np.array_equal(a[0]["image"], a[1]["image"])
    other = Composites(cache, "train", size=(40, 40), seed=1)
    assert not np.array_equal(a[0]["image"], other[0]["image"])
    # jitter changes only the appearance: the layout (and so the labels) stays the same
    plain = Composites(cache, "train", size=(40, 40), jitter=False)
    np.testing.assert_array_equal(a[2]["seg"], plain[2]["seg"])


def test_the_scale_range_sets_the_pasted_size_and_close_ups_overflow_the_frame(cache: Path) -> None:
    def longer_sides(ds: Composites) -> list[int]:
        return [max(p.box[2] - p.box[0], p.box[3] - p.box[1]) for i in range(30) for p in ds.compose(i)[1]]

    small = longer_sides(Composites(cache, "train", size=(60, 80), scale=(0.2, 0.3)))
    big = longer_sides(Composites(cache, "train", size=(60, 80), scale=(1.2, 1.6)))
    assert 0.2 * 60 - 1 <= min(small) and max(small) <= 0.3 * 60 + 1
    assert 1.2 * 60 - 1 <= min(big) and max(big) <= 1.6 * 60 + 1
    close = build_dataset("composites-close", root=cache, split="train", size=(60, 80), length=30)
    assert close.scale == CLOSE_UP_SCALE and max(longer_sides(close)) > 60  # some overflow the frame
    assert dataset_classes("composites-close", cache) == dataset_classes("composites", cache)
    with pytest.raises(ValueError, match="scale"):
        Composites(cache, "train", scale=(0.5, 0.4))


def test_a_split_without_backgrounds_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cutouts" / "animal").mkdir(parents=True)
    _cutout((255, 0, 0), 0).save(tmp_path / "cutouts" / "animal" / "a.png")
    (tmp_path / "backgrounds").mkdir()
    with pytest.raises(DatasetError, match="needs both"):
        Composites(tmp_path, "train")


def test_train_run_trains_on_composites_with_their_classes(cache: Path, tmp_path: Path, load_script) -> None:
    run = load_script("run")
    out = tmp_path / "run"
    argv = ["--task", "seg", "--data", "composites", "--data-root", str(cache), "--synth-size", "48",
            "--backbone", "vgg16", "--backbone-width", "0.0625", "--fc-channels", "64", "--scratch",
            "--mlp-width", "16", "--images-per-batch", "2", "--pixels-per-image", "50", "--workers", "0",
            "--no-tensorboard", "--threads", "1", "--iters", "2", "--val-limit", "1", "--out", str(out)]
    assert run_cli(run.main, parse_args(run.get_args_parser(), argv), prog="run.py") == 0
    assert list(load_model(out, task="seg").config.class_names) == ["background", "animal", "plant", "vehicle"]
    bad = [*argv[:5], str(tmp_path / "missing"), *argv[6:-1], str(tmp_path / "run2")]
    assert run_cli(run.main, parse_args(run.get_args_parser(), bad), prog="run.py") == 1
    ev = load_script("eval")
    metrics = tmp_path / "metrics.json"
    argv = ["--model", str(out), "--data", "composites", "--data-root", str(cache), "--synth-size", "48",
            "--limit", "2", "--quiet", "--device", "cpu", "--json", str(metrics)]
    assert run_cli(ev.main, parse_args(ev.get_args_parser(), argv), prog="eval.py") == 0
    result = json.loads(metrics.read_text())  # on the test split: held-out cut-outs and backgrounds
    assert set(result["per_class"]) == {"background", "animal", "plant", "vehicle"}
    assert all(v["iou"] is None or 0 <= v["iou"] <= 1 for v in result["per_class"].values())
    # the prior correction reads the recorded data, sampler and pixel count, and changes only the output bias
    pc = load_script("prior_correct")
    fixed = tmp_path / "prior"
    argv = ["--model", str(out), "--out", str(fixed), "--images", "4"]
    assert run_cli(pc.main, pc.get_args_parser().parse_args(argv), prog="prior_correct.py") == 0
    before, after = load_model(out), load_model(fixed)
    record = after.config.provenance["prior_correction"]
    assert record["sampler"] == "uniform" and record["images"] == 4
    shift = torch.tensor(list(record["bias_shift"].values()))
    assert torch.allclose(after.head.output_layer().bias, before.head.output_layer().bias + shift, atol=1e-5)
    b_state, a_state = before.state_dict(), after.state_dict()
    changed = [k for k in b_state if not torch.equal(b_state[k], a_state[k])]
    assert changed == [f"head.rest.{len(after.head.rest) - 1}.bias"] or changed == [] and not shift.any()
    assert run_cli(pc.main, pc.get_args_parser().parse_args(argv), prog="prior_correct.py") == 1  # --out holds one
    again = ["--model", str(fixed), "--out", str(tmp_path / "twice")]
    assert run_cli(pc.main, pc.get_args_parser().parse_args(again), prog="prior_correct.py") == 1
    # a model whose classes are no longer the dataset's (real-categories after `tool`) is refused
    shutil.copytree(out, tmp_path / "renamed", ignore=shutil.ignore_patterns("checkpoint*"))
    meta = json.loads((tmp_path / "renamed" / "config.json").read_text())
    meta["config"]["class_names"] = ["background", "plant", "animal", "vehicle"]
    (tmp_path / "renamed" / "config.json").write_text(json.dumps(meta))
    renamed = ["--model", str(tmp_path / "renamed"), "--out", str(tmp_path / "renamed_prior")]
    assert run_cli(pc.main, pc.get_args_parser().parse_args(renamed), prog="prior_correct.py") == 1


# ---- the fetch ----------------------------------------------------------------------------


def _ar(members: dict[str, bytes]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, data in members.items():
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    return bytes(out)


def _fake_stamps_deb(path: Path) -> None:
    """A ``.deb`` with the layout of ``tuxpaint-stamps-default``: photos, a cartoon, a mirrored
    copy, recolourable clip-art and a folder that is no class."""
    files: dict[str, bytes] = {"./usr/share/doc/tuxpaint-stamps-default/copyright": b"License: GPL-2+\n"}

    def png(colour: tuple[int, int, int]) -> bytes:
        buf = io.BytesIO()
        _cutout(colour, 1).resize((64, 48)).save(buf, format="PNG")  # stamps under 32 px are skipped
        return buf.getvalue()

    stamps = "./usr/share/tuxpaint/stamps/"
    files[stamps + "animals/mammals/cat.png"] = png((200, 100, 0))
    files[stamps + "animals/mammals/cat_mirror.png"] = png((200, 100, 0))
    files[stamps + "animals/cartoon/tux.png"] = png((0, 0, 0))
    files[stamps + "vehicles/auto/car.png"] = png((0, 0, 200))
    files[stamps + "military/vehicles/tank.png"] = png((0, 90, 0))
    files[stamps + "food/fruit/apple.png"] = png((220, 0, 0))
    files[stamps + "food/fruit/apple.ogg"] = b"sound"
    files[stamps + "household/tools/crayon.png"] = png((9, 9, 9))
    files[stamps + "household/tools/crayon.dat"] = b"colorable\n"
    files[stamps + "symbols/alphabets/a.png"] = png((0, 0, 0))
    _deb(path, files)


def test_fetch_indexes_photo_stamps_by_class_and_is_idempotent(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "debs").mkdir(parents=True)
    _fake_stamps_deb(cache / "debs" / "tuxpaint-stamps-default_1.0-1_all.deb")
    logs: list[str] = []
    m = fr.fetch_real(cache, packages=("tuxpaint-stamps-default",), pypi=False, download=False,
                      log=logs.append)
    src = m["sources"]["tuxpaint-stamps-default"]
    assert src["version"] == "1.0-1" and src["cutouts"] == {"animal": 1, "food": 1, "vehicle": 2}
    assert m["classes"] == ["animal", "food", "vehicle"] and m["errors"] == {}
    assert sorted(p.name for p in (cache / "cutouts" / "vehicle").iterdir()) == [
        "tuxpaint__military_vehicles_tank.png", "tuxpaint__vehicles_auto_car.png"]
    assert (cache / "licences" / "tuxpaint-stamps-default.txt").read_text() == "License: GPL-2+\n"
    assert not list((cache / "extracted").rglob("*.ogg"))  # only the members we read are unpacked
    assert json.loads((cache / "manifest.json").read_text()) == m
    assert composite_classes(cache) == ("background", "animal", "food", "vehicle")
    logs.clear()
    assert fr.fetch_real(cache, packages=("tuxpaint-stamps-default",), pypi=False, download=False,
                         log=logs.append) == m
    assert logs == ["tuxpaint-stamps-default: already fetched"]
    (cache / "cutouts" / "food" / "tuxpaint__food_fruit_apple.png").unlink()  # a damaged cache is redone
    fr.fetch_real(cache, packages=("tuxpaint-stamps-default",), pypi=False, download=False, log=logs.append)
    assert (cache / "cutouts" / "food" / "tuxpaint__food_fruit_apple.png").is_file()


def test_fetch_without_apt_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fr.shutil, "which", lambda name: None)
    with pytest.raises(fr.FetchError, match="by hand"):
        fr.fetch_real(tmp_path, packages=("mate-backgrounds",), pypi=False, log=lambda s: None)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert "apt-get is not available" in m["errors"]["mate-backgrounds"]
    with pytest.raises(ValueError, match="unknown package"):
        fr.fetch_real(tmp_path, packages=("nope",), pypi=False, log=lambda s: None)


def _deb(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> None:
    """A ``.deb`` holding ``files`` (and symlinks ``name -> target``) in its data.tar.xz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    path.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.xz": b"", "data.tar.xz": buf.getvalue()}))


def _jpeg(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (90, 120, 60)).save(buf, format="JPEG")
    return buf.getvalue()


def test_fetch_keeps_the_listed_background_photos_downscaled(tmp_path: Path) -> None:
    debs = tmp_path / "debs"
    debs.mkdir()
    mate = "./usr/share/backgrounds/mate/nature/"
    _deb(debs / "mate-backgrounds_1.0_all.deb", {mate + "Dune.jpg": _jpeg(1600, 900),
                                                 mate + "LadyBird.jpg": _jpeg(64, 48)})  # not listed: an animal
    plasma = "./usr/share/wallpapers/Path/contents/images/"
    _deb(debs / "plasma-workspace-wallpapers_4%3a5.0_all.deb",
         {plasma + "2560x1600.jpg": _jpeg(2560, 1600), plasma + "800x600.jpg": _jpeg(800, 600),
          plasma + "master.jpg": _jpeg(1500, 1000)},
         links={plasma + "1280x800.jpg": "master.jpg"})  # Debian ships most sizes as links
    m = fr.fetch_real(tmp_path, packages=("mate-backgrounds", "plasma-workspace-wallpapers"), pypi=False,
                      download=False, log=lambda s: None)
    files = m["sources"]["mate-backgrounds"]["files"]
    assert [f for f in files if f.startswith("backgrounds/")] == ["backgrounds/mate__nature_Dune.jpg"]
    assert [f for f in files if f.startswith("scenes/")] == ["scenes/mate__nature_LadyBird.jpg"]
    assert m["sources"]["plasma-workspace-wallpapers"]["version"] == "4:5.0"
    assert sorted(p.name for p in (tmp_path / "backgrounds").iterdir()) == ["mate__nature_Dune.jpg",
                                                                             "plasma__Path.jpg"]
    with Image.open(tmp_path / "backgrounds" / "mate__nature_Dune.jpg") as im:
        assert im.size == (1024, 576)
    with Image.open(tmp_path / "backgrounds" / "plasma__Path.jpg") as im:
        assert im.size == (1024, 683)  # the 1280x800 link (smallest >= 1024 px wide), followed


def test_fetch_copies_the_photos_of_installed_pypi_packages(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    m = fr.fetch_real(tmp_path, packages=(), download=False, log=lambda s: None)
    assert "backgrounds/skimage__brick.jpg" in m["sources"]["scikit-image"]["files"]
    assert not any("chelsea" in f or "coffee" in f for s in m["sources"].values() for f in s["files"])
    assert (tmp_path / "backgrounds" / "skimage__brick.jpg").is_file()
    # the held-out photos (issue #25): never fetched, and removed from a cache fetched before
    assert "scikit-learn" not in m["sources"] and not any("camera" in f for f in m["sources"]["scikit-image"]["files"])
    old = tmp_path / "backgrounds" / "sklearn__china.jpg"
    old.write_bytes(b"x")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["sources"]["scikit-learn"] = {"kind": "pypi", "files": ["backgrounds/sklearn__china.jpg"]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    m = fr.fetch_real(tmp_path, packages=(), download=False, log=lambda s: None)
    assert "scikit-learn" not in m["sources"] and not old.exists()


def test_fetch_copies_the_aloe_geometry_of_opencv_doc_for_evaluation_only(tmp_path: Path) -> None:
    debs = tmp_path / "debs"
    debs.mkdir()
    data = "./usr/share/doc/opencv-doc/examples/data/"
    gt = io.BytesIO()
    Image.fromarray(np.full((48, 64), 30, np.uint8)).save(gt, format="PNG")
    _deb(debs / "opencv-doc_4.6.0_all.deb", {data + "home.jpg": _jpeg(64, 48), data + "aloeL.jpg": _jpeg(64, 48),
                                             data + "aloeGT.png": gt.getvalue(), data + "aloeR.jpg": _jpeg(64, 48)})
    m = fr.fetch_real(tmp_path, packages=("opencv-doc",), pypi=False, download=False, log=lambda s: None)
    entry = m["sources"]["opencv-doc"]
    assert entry["geometry"] == ["geometry/aloe/aloeL.jpg", "geometry/aloe/aloeGT.png"]
    assert sorted(p.name for p in (tmp_path / "geometry" / "aloe").iterdir()) == ["aloeGT.png", "aloeL.jpg"]
    assert entry["backgrounds"] == 1 and not any("aloe" in p.name for p in (tmp_path / "backgrounds").iterdir())
    with Image.open(tmp_path / "geometry" / "aloe" / "aloeGT.png") as im:
        assert np.asarray(im).max() == 30  # copied unchanged: the values are disparities
