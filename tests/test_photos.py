"""The labelled photos of GCompris and KPhotoAlbum (issue #25), fetched offline from hand-made ``.deb``
files: GCompris' layout (Qt ``.rcc`` bundles written by ``tests/test_rcc.py``'s writer, READMEs beside
the photos) and KPhotoAlbum's ``demo`` folder. Checks the credits and licences, the deduplication
(same pixels, and the same photo at another resolution), the manifest and the split rule.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_rcc import write_rcc

from pixelnet.fetch import (
    PHOTO_FOLDERS,
    PHOTOS_MANIFEST,
    UNLISTED,
    FetchError,
    fetch_photos,
    licence_id,
    package_credit,
    parse_credits,
    source_hash,
    split_photos,
)
from pixelnet.fetch.album import album_angles, turn

FOLDERS = {f.name: f for f in PHOTO_FOLDERS}
RCC = "usr/share/gcompris-qt/rcc/"


def _photo(seed: int, size: tuple[int, int] = (60, 40)) -> Image.Image:
    """A smooth random picture (low frequencies: its resized copies keep their thumbnail)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
    return small.resize(size, Image.Resampling.BICUBIC)


def _encode(image: Image.Image, fmt: str = "WEBP") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {"quality": 95}))
    return buf.getvalue()


def _deb(path: Path, files: dict[str, bytes]) -> None:
    """A ``.deb`` (``ar`` archive) holding ``files`` in its data.tar.xz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = bytearray(b"!<arch>\n")
    for name, data in {"debian-binary": b"2.0\n", "control.tar.xz": b"", "data.tar.xz": buf.getvalue()}.items():
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    path.write_bytes(bytes(out))


FISH_README = b"""Copyright: Karelj
Source: https://commons.wikimedia.org/wiki/File:Fish_1.jpg
License: Public domain
Files:
fish1.webp
fish2.webp

Copyright: Stefano Guerrieri
Source: https://commons.wikimedia.org/wiki/File:Fish_3.jpg
License: CC-BY-SA 4.0
Comments: cropping, sharpening
Files: fish3.webp

Copyright: Nobody
License: CC0-1.0
Files:
fsh4.webp
"""
"""Two entries and a typo: fsh4.webp is listed, fish4.webp is in the folder."""

MONUMENTS_README = b"""Copyright: Timothee Giet
License: CC-BY-SA 4.0
Files:
egypt/egypt.svg

Copyright: Berthold Werner
License: CC-BY 2.0
Source: https://commons.wikimedia.org/wiki/File:Pyramid.jpg
Files:
egypt/pyramid.webp
"""


def _gcompris_deb(path: Path) -> None:
    act = "gcompris/src/activities/"
    fishes = FOLDERS["categorization/fishes"].prefix
    monuments = FOLDERS["categorization/monuments"].prefix
    categorization = {
        fishes + "README": (FISH_README, True),
        **{f"{fishes}fish{k}.webp": (_encode(_photo(k)), False) for k in (1, 2, 3, 4)},
        monuments + "README": (b"Copyright: Urse Ovidiu\nLicense: GPLv2+\nFiles:\npyramid.webp\n", False),
        monuments + "pyramid.webp": (_encode(_photo(10, (48, 32))), False),  # a smaller copy of egypt/pyramid
        act + "categorization/resource/images/alphabets/a.webp": (_encode(_photo(20)), False),  # not a folder of ours
    }
    explore = FOLDERS["explore_monuments"].prefix
    monuments_rcc = {
        explore + "README": (MONUMENTS_README, True),
        explore + "egypt/egypt.svg": (b"<svg/>", False),
        explore + "egypt/pyramid.webp": (_encode(_photo(10, (120, 80))), False),
        explore + "board/board1.qml": (b"import QtQuick 2.12", False),
    }
    animals = FOLDERS["explore_world_animals"].prefix
    animals_rcc = {
        animals + "README": (b"Copyright: Karelj\nLicense: Public Domain\nFiles:\nfish.webp\n\n"
                             b"Copyright: Ann\nLicense: CC-BY-3.0\nFiles:\nowl.webp\n", False),
        animals + "fish.webp": (_encode(_photo(1)), False),  # the very same pixels as categorization's fish1
        animals + "owl.webp": (_encode(_photo(30)), False),
        animals + "owl.svg": (b"<svg/>", False),
    }
    _deb(path, {
        "usr/share/doc/gcompris-qt-data/copyright": b"Files: *\nCopyright: 2014 Bruno Coudoin\nLicense: GPL-3+\n",
        RCC + "categorization.rcc": write_rcc(categorization),
        RCC + "explore_monuments.rcc": write_rcc(monuments_rcc),
        RCC + "explore_world_animals.rcc": write_rcc(animals_rcc),
        RCC + "lang.rcc": write_rcc({act + "lang/resource/words/a.webp": (_encode(_photo(40)), False)}),
    })


KPA_COPYRIGHT = b"""Upstream Author:

    Jesper K. Pedersen <blackie@kde.org>

License:

    This package is free software; you can redistribute it and/or modify
    it under the terms of the GNU General Public License as published by
    the Free Software Foundation; either version 2 of the License, or
    (at your option) any later version.
"""


def _kphotoalbum_deb(path: Path) -> None:
    demo = "usr/share/kphotoalbum/demo/"
    _deb(path, {
        "usr/share/doc/kphotoalbum/copyright": KPA_COPYRIGHT,
        **{f"{demo}photo{k}.jpg": _encode(_photo(100 + k, (80, 60)), "JPEG") for k in range(5)},
        demo + "CategoryImages/People-Jim.jpg": _encode(_photo(200, (64, 64)), "JPEG"),
        demo + "index.xml": b'<KPhotoAlbum><images><image file="photo1.jpg" angle="90" width="60" height="80"/>'
                            b'<image file="photo2.jpg"/></images></KPhotoAlbum>',
        demo + "movie.avi": b"RIFF",
        "usr/bin/kphotoalbum": b"\x7fELF",
    })


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    (tmp_path / "debs").mkdir()
    _gcompris_deb(tmp_path / "debs" / "gcompris-qt-data_3.1-2_all.deb")
    _kphotoalbum_deb(tmp_path / "debs" / "kphotoalbum_5.9.1-1_amd64.deb")
    return tmp_path


def _by_path(manifest: dict) -> dict[str, dict]:
    """Every origin of every kept photo, by its path in the package (origin + the kept record)."""
    out = {}
    for p in manifest["photos"]:
        out[p["path"]] = p
        for o in p.get("also", []):
            out[o["path"]] = {**o, "kept": p}
    return out


def test_photos_carry_their_credit_label_and_origin(cache: Path) -> None:
    logs: list[str] = []
    m = fetch_photos(cache, download=False, log=logs.append)
    assert m["errors"] == {} and json.loads((cache / PHOTOS_MANIFEST).read_text()) == m
    assert m["packages"]["gcompris-qt-data"]["version"] == "3.1-2"
    assert m["packages"]["kphotoalbum"]["licence"] == "GPL-2.0-or-later"
    assert (cache / m["packages"]["kphotoalbum"]["licence_file"]).read_bytes() == KPA_COPYRIGHT
    paths = _by_path(m)
    fish = "gcompris/src/activities/categorization/resource/images/fishes/"
    f1, f3, f4 = paths[fish + "fish1.webp"], paths[fish + "fish3.webp"], paths[fish + "fish4.webp"]
    assert f1["rcc"] == RCC + "categorization.rcc" and f1["package"] == "gcompris-qt-data"
    assert (f1["label"], f1["folder"], f1["copyright"]) == ("fish", "categorization/fishes", "Karelj")
    assert (f1["licence"], f1["licence_id"]) == ("Public domain", "public-domain")
    assert f1["source_url"] == "https://commons.wikimedia.org/wiki/File:Fish_1.jpg"
    assert paths[fish + "fish2.webp"]["copyright"] == "Karelj"  # the second file of a multi-line Files:
    assert (f3["licence_id"], f3["comments"]) == ("CC-BY-SA-4.0", "cropping, sharpening")  # Files: on its line
    assert f4["licence"] == f4["copyright"] == UNLISTED and f4["source_url"] == ""  # never guessed
    assert {"folder": "categorization/fishes", "path": fish + "fsh4.webp",
            "problem": "listed in the README but not in the package"} in m["problems"]
    assert {"folder": "categorization/fishes", "path": fish + "fish4.webp",
            "problem": "not listed in the README"} in m["problems"]
    demo = [p for p in m["photos"] if p["package"] == "kphotoalbum"]
    assert sorted(p["path"].rsplit("/", 1)[1] for p in demo) == [f"photo{k}.jpg" for k in range(5)]  # no thumbnails
    assert all(p["label"] == "" and p["licence"] == "GPL-2.0-or-later" and p["rcc"] is None for p in demo)
    assert demo[0]["copyright"] == "Jesper K. Pedersen <blackie@kde.org>" and demo[0]["version"] == "5.9.1-1"
    # only photos: no drawings (lang, alphabets), maps, boards; every file is a JPEG at most 1024 px
    assert not [p for p in paths if "/lang/" in p or "alphabets" in p or not p.endswith((".webp", ".jpg"))]
    files = sorted(p.name for p in (cache / "photos").glob("*.jpg"))
    assert files == sorted(p["file"].removeprefix("photos/") for p in m["photos"])
    for p in m["photos"]:
        with Image.open(cache / p["file"]) as im:
            assert im.format == "JPEG" and list(im.size) == p["size"] and max(im.size) <= 1024
    assert not list((cache / "extracted").rglob("*.avi"))
    # the album turns photo1 a quarter clockwise for display: it is kept that way round
    turned = next(p for p in demo if p["path"].endswith("photo1.jpg"))
    assert turned["size"] == [60, 80] and next(p for p in demo if p["path"].endswith("photo2.jpg"))["size"] == [80, 60]
    with Image.open(cache / turned["file"]) as im:
        expected = _photo(101, (80, 60)).transpose(Image.Transpose.ROTATE_270)
        assert np.abs(np.asarray(im, np.float32) - np.asarray(expected, np.float32)).mean() < 8
    assert any(s.startswith("explore_farm_animals: no usr/share") for s in logs)  # not in the fake package


def test_the_same_photo_in_two_folders_is_kept_once(cache: Path) -> None:
    m = fetch_photos(cache, download=False, log=lambda s: None)
    paths = _by_path(m)
    # identical pixels, two labels: the first folder's label and credit, both folders listed
    fish = paths["gcompris/src/activities/categorization/resource/images/fishes/fish1.webp"]
    assert fish["labels"] == ["fish", "animal"] and fish["label"] == "fish"
    assert [o["folder"] for o in fish["also"]] == ["explore_world_animals"]
    assert fish["also"][0]["licence_id"] == "public-domain" and fish["also"][0]["label"] == "animal"
    # the same picture at 48 x 32 and at 120 x 80: kept once, with the larger pixels and the first credit
    small = paths["gcompris/src/activities/categorization/resource/images/monuments/pyramid.webp"]
    big = paths["gcompris/src/activities/explore_monuments/resource/egypt/pyramid.webp"]
    assert big["kept"] is small and small["size"] == [120, 80] and "labels" not in small
    assert (small["licence_id"], big["licence_id"]) == ("GPL-2.0-or-later", "CC-BY-2.0")
    assert small["pixels_from"]["path"].endswith("egypt/pyramid.webp")
    assert m["duplicates"] == 2 and len(m["photos"]) == 4 + 1 + 1 + 5  # fishes, monument, owl, demo
    assert m["folders"]["explore_world_animals"] == {
        "label": "animal", "package": "gcompris-qt-data", "found": 2, "expected": 15, "kept": 1, "duplicates": 1,
        "split": m["folders"]["explore_world_animals"]["split"]}


def test_every_folder_has_a_quarter_of_its_photos_in_test(cache: Path) -> None:
    m = fetch_photos(cache, download=False, log=lambda s: None)
    assert all(p["split"] in ("train", "val", "test") for p in m["photos"])
    for name, f in m["folders"].items():
        n = sum(f["split"].values())
        assert n == f["found"] and f["split"]["test"] >= math.ceil(n / 4), name
    assert m["splits"] == {s: sum(p["split"] == s for p in m["photos"]) for s in ("train", "val", "test")}
    # the split depends on the source paths only: a fresh cache gives the same
    again = fetch_photos(cache, download=False, force=True, log=lambda s: None)
    assert {p["file"]: p["split"] for p in again["photos"]} == {p["file"]: p["split"] for p in m["photos"]}


def test_split_rule_on_many_folders() -> None:
    rng = np.random.default_rng(0)
    folders = {f"folder{k}": [f"folder{k}/p{i}" for i in range(int(rng.integers(1, 40)))] for k in range(60)}
    keys = {p: "pkg/" + p for ps in folders.values() for p in ps}
    split = split_photos(keys, folders)
    for name, ps in folders.items():
        assert sum(split[p] == "test" for p in ps) >= math.ceil(len(ps) / 4), name
    assert split_photos(dict(reversed(list(keys.items()))), dict(reversed(list(folders.items())))) == split
    assert 0.0 <= source_hash("a") < 1.0 and source_hash("a") == source_hash("a") != source_hash("b")
    # photos whose hash falls in the test band stay there; the fix-up only adds to test
    assert all(split[p] == "test" for p, k in keys.items() if source_hash(k) < 0.30)
    total = len(keys)
    assert 0.25 <= sum(s == "test" for s in split.values()) / total < 0.45
    assert 0 < sum(s == "val" for s in split.values()) / total < 0.1


def test_reruns_are_no_ops_and_a_damaged_cache_is_redone(cache: Path) -> None:
    m = fetch_photos(cache, download=False, log=lambda s: None)
    logs: list[str] = []
    assert fetch_photos(cache, download=False, log=logs.append) == m and logs == ["photos: already fetched"]
    (cache / m["photos"][0]["file"]).unlink()
    logs.clear()
    assert fetch_photos(cache, download=False, log=logs.append)["photos"] == m["photos"]
    assert logs[0].startswith("unpacking") and (cache / m["photos"][0]["file"]).is_file()


def test_a_missing_package_is_an_error_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "debs").mkdir()
    _kphotoalbum_deb(tmp_path / "debs" / "kphotoalbum_5.9.1-1_amd64.deb")
    m = fetch_photos(tmp_path, download=False, log=lambda s: None)
    assert "no gcompris-qt-data_*.deb" in m["errors"]["gcompris-qt-data"] and len(m["photos"]) == 5
    with pytest.raises(FetchError, match="no photos could be fetched"):
        fetch_photos(tmp_path / "empty", download=False, log=lambda s: None)
    with pytest.raises(ValueError, match="unknown photo package"):
        fetch_photos(tmp_path, packages=("nope",), download=False)


def test_credits_and_licence_spellings() -> None:
    credits = parse_credits("Copyright: A\nLicense: CC0-1.0\nFiles:\n./a.webp\nb/c.webp\n\n\n"
                            "Files: d.webp\nCopyright: B\n  and C\nSource: http://x\nLicense: GPLv3\n")
    assert set(credits) == {"a.webp", "b/c.webp", "d.webp"}
    assert credits["d.webp"].copyright == "B and C" and credits["d.webp"].source == "http://x"
    assert {raw: licence_id(raw) for raw in ("Public Domain", "public domain", "CC0-1.0", "CC-BY-SA 4.0",
                                             "CC-BY-SA-4.0", "CC-BY 2.0", "CC-BY-3.0", "GPLv2+", "GPLv3", "MIT")} == {
        "Public Domain": "public-domain", "public domain": "public-domain", "CC0-1.0": "CC0-1.0",
        "CC-BY-SA 4.0": "CC-BY-SA-4.0", "CC-BY-SA-4.0": "CC-BY-SA-4.0", "CC-BY 2.0": "CC-BY-2.0",
        "CC-BY-3.0": "CC-BY-3.0", "GPLv2+": "GPL-2.0-or-later", "GPLv3": "GPL-3.0-only", "MIT": "MIT"}
    dep5 = package_credit("Format: x\nSource: https://kde.org\n\nFiles: *\nCopyright: 2014 B\nLicense: GPL-3+\n")
    assert (dep5.licence, dep5.copyright, dep5.source) == ("GPL-3+", "2014 B", "https://kde.org")
    assert package_credit(KPA_COPYRIGHT.decode()).licence == "GPL-2.0-or-later"
    assert package_credit("no licence here").licence == "unknown"


def test_fetch_data_fetches_the_photos_and_the_salient_teacher(load_script, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cli = load_script("fetch_data")
    args = cli.get_args_parser().parse_args([])
    assert args.photos is True and args.teachers is True
    assert cli.get_args_parser().parse_args(["--no-photos"]).photos is False
    calls: list[tuple] = []

    def pack(package: str, dest: Path) -> Path:
        calls.append(("pack", package))
        Path(dest).mkdir(parents=True, exist_ok=True)
        (Path(dest) / "imgly-background-removal-data-1.4.5.tgz").write_bytes(b"tgz")
        return Path(dest) / "imgly-background-removal-data-1.4.5.tgz"

    def assemble(tgz: Path, variant: str, *, out: Path) -> Path:
        calls.append(("assemble", Path(tgz).name, variant))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"onnx")
        return out

    monkeypatch.setattr(cli, "npm_pack", pack)
    monkeypatch.setattr(cli, "assemble_isnet", assemble)
    out = cli.fetch_salient(tmp_path, download=True)
    assert out == tmp_path / "teachers" / "isnet_medium.onnx" and out.read_bytes() == b"onnx"
    assert calls == [("pack", cli.ISNET_NPM_PACKAGE), ("assemble", "imgly-background-removal-data-1.4.5.tgz",
                                                       "medium")]
    assert cli.fetch_salient(tmp_path, download=True) == out and len(calls) == 2  # there: nothing to do
    out.unlink()
    cli.fetch_salient(tmp_path, download=False)  # the cached tarball is used, no npm
    assert [c[0] for c in calls] == ["pack", "assemble", "assemble"]
    with pytest.raises(cli.FetchError, match="downloads are off"):
        cli.fetch_salient(tmp_path / "other", download=False)


def test_album_angles_and_turns() -> None:
    xml = (b'<KPhotoAlbum><images><image file="a.jpg" angle="90"/><image file="b.jpg" angle="0"/>'
           b'<image file="sub/c.jpg" angle="-90"/><image file="d.jpg"/></images></KPhotoAlbum>')
    assert album_angles(xml) == {"a.jpg": 90, "sub/c.jpg": 270}
    with pytest.raises(ValueError, match="multiple of 90"):
        album_angles(b'<KPhotoAlbum><image file="a.jpg" angle="45"/></KPhotoAlbum>')
    with pytest.raises(ValueError, match="not a KPhotoAlbum index"):
        album_angles(b"<KPhotoAlbum>")
    im = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 0]]], np.uint8))  # red at the top left, 2 wide 1 high
    right = np.asarray(turn(im, 90))  # a quarter clockwise: the top left goes to the top right
    assert right.shape == (2, 1, 3) and right[0, 0, 0] == 255
    assert np.asarray(turn(im, 180))[0, 1, 0] == 255 and np.asarray(turn(im, 270))[1, 0, 0] == 255
    assert turn(im, 0) is im
