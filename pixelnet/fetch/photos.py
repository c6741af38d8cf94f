"""Real labelled photos out of Debian packages: GCompris' activity photos and KPhotoAlbum's demo album.

:data:`PHOTO_FOLDERS` names each folder and its image-level label. GCompris keeps its images
inside Qt resource bundles (``usr/share/gcompris-qt/rcc/*.rcc``, read with
:mod:`pixelnet.fetch.rcc`), with a ``README`` beside them crediting each file
(:mod:`pixelnet.fetch.credits`); KPhotoAlbum's ``demo`` photos are plain JPEGs under the package's
own copyright file. The ``.deb`` files come from ``apt-get download`` (or ``CACHE/debs``) as for
:func:`pixelnet.fetch.fetch_real`. The cache then holds::

    CACHE/photos/<package>__<folder>_<name>.jpg   RGB, longer side <= 1024 px, one per distinct photo
    CACHE/photos/manifest.json                    each photo's origin, credit, licence, label, split
    CACHE/licences/<package>.txt                  each package's Debian copyright file

A photo found in two folders (the same picture, even at another resolution: :mod:`pixelnet.fetch.dedup`)
is kept once, with every other origin listed under ``also``; it keeps the first folder's label and
credit (every label under ``labels`` when they differ) and the larger copy's pixels. Splits are by
source path (:func:`pixelnet.fetch.splits.split_photos`).
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from PIL import Image, ImageOps

from pixelnet.fetch.album import album_angles, turn
from pixelnet.fetch.credits import Credit, licence_id, package_credit, parse_credits
from pixelnet.fetch.debs import FetchError, deb_version, find_deb, read_deb_members
from pixelnet.fetch.dedup import PhotoIndex, pixels_sha256
from pixelnet.fetch.rcc import read_rcc
from pixelnet.fetch.sources import DEFAULT_CACHE, PHOTO_EXTENSIONS, PHOTO_FOLDERS, PHOTO_PACKAGES, PhotoFolder
from pixelnet.fetch.splits import MIN_TEST_FRACTION, PHOTO_SPLIT_BANDS, split_photos

__all__ = ["PHOTOS_MANIFEST", "UNLISTED", "fetch_photos"]

PHOTOS_MANIFEST = "photos/manifest.json"
"""The photos' manifest, relative to the cache."""
PHOTOS_FORMAT = 1
PHOTO_MAX_SIDE = 1024
UNLISTED = "unknown (README does not list it)"
"""The licence and credit of a photo its folder's README does not list (never guessed)."""
_SHORT = {"gcompris-qt-data": "gcompris"}


def _selection(packages: tuple[str, ...]) -> str:
    """What the photos are chosen and split by: a change makes the cached photos stale."""
    folders = [asdict(f) for f in PHOTO_FOLDERS if f.package in packages]
    return json.dumps([PHOTOS_FORMAT, PHOTO_MAX_SIDE, PHOTO_EXTENSIONS, PHOTO_SPLIT_BANDS, MIN_TEST_FRACTION,
                       folders])


def _is_photo(rel: str, recursive: bool) -> bool:
    return rel.lower().endswith(PHOTO_EXTENSIONS) and (recursive or "/" not in rel)


def _keep_for(package: str) -> Callable[[str], bool]:
    folders = [f for f in PHOTO_FOLDERS if f.package == package]
    bundles = {f.rcc for f in folders if f.rcc}

    def keep(path: str) -> bool:
        if path == f"usr/share/doc/{package}/copyright" or path in bundles or any(path == f.album for f in folders):
            return True
        return any(not f.rcc and path.startswith(f.prefix) and
                   (_is_photo(path[len(f.prefix):], f.recursive) or path == f.readme) for f in folders)
    return keep


def _folder_files(folder: PhotoFolder, root: Path) -> tuple[list[tuple[str, bytes]], str | None]:
    """The folder's photos ``(path, bytes)`` in name order and its README's text (None: no README)."""
    if folder.rcc:
        files = read_rcc(root / folder.rcc, folder.prefix)
        if folder.readme and folder.readme not in files:
            files.update(read_rcc(root / folder.rcc, folder.readme))
    else:
        base = root / folder.prefix
        files = {folder.prefix + p.relative_to(base).as_posix(): p.read_bytes()
                 for p in sorted(base.rglob("*")) if p.is_file()} if base.is_dir() else {}
    readme = files.get(folder.readme) if folder.readme else None
    photos = [(p, b) for p, b in sorted(files.items()) if _is_photo(p[len(folder.prefix):], folder.recursive)]
    return photos, None if readme is None else readme.decode("utf-8", errors="replace")


def _decode(data: bytes) -> Image.Image:
    """The photo as RGB (EXIF rotation applied)."""
    with Image.open(io.BytesIO(data)) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def _save(image: Image.Image, dest: Path) -> list[int]:
    """Write the photo as a JPEG, longer side at most :data:`PHOTO_MAX_SIDE`; its saved size."""
    image = image.copy()
    image.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE), Image.Resampling.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    image.save(dest, quality=92)
    return list(image.size)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def _origin(folder: PhotoFolder, version: str, path: str, credit: Credit | None) -> dict:
    """Where one copy of a photo came from and its credit (``credit`` None: the README does not list it)."""
    c = credit or Credit(UNLISTED, UNLISTED)
    out = {"folder": folder.name, "label": folder.label, "package": folder.package, "version": version,
           "rcc": folder.rcc or None, "path": path, "licence": c.licence,
           "licence_id": c.licence if credit is None else licence_id(c.licence), "copyright": c.copyright,
           "source_url": c.source}
    if c.comments:
        out["comments"] = c.comments
    return out


def _unpack(package: str, cache: Path, *, download: bool, log: Callable[[str], None]) -> tuple[dict, Path]:
    """Unpack a package's photo members into ``CACHE/extracted/<package>``; its manifest entry."""
    deb = find_deb(cache / "debs", package, download=download, log=log)
    ext = cache / "extracted" / package
    if ext.exists():
        shutil.rmtree(ext)
    log(f"unpacking {deb.name}")
    members = read_deb_members(deb, ext, _keep_for(package))
    entry: dict = {"version": deb_version(deb), "deb": deb.name}
    copyright_file = f"usr/share/doc/{package}/copyright"
    if copyright_file in members:
        lic = cache / "licences" / f"{package}.txt"
        lic.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ext / copyright_file, lic)
        credit = package_credit(lic.read_text(errors="replace"))
        entry.update(licence_file=lic.relative_to(cache).as_posix(), licence=credit.licence,
                     copyright=credit.copyright, source_url=credit.source)
    return entry, ext


def _collect(packages: dict[str, dict], roots: dict[str, Path], cache: Path,
             log: Callable[[str], None]) -> tuple[list[dict], dict[str, dict], list[dict], dict[str, list[str]]]:
    """Read, deduplicate and write every photo of the fetched packages.

    Returns:
        (photos, folder statistics, problems with the READMEs, folder -> files of its photos).
    """
    photos: list[dict] = []
    index = PhotoIndex()
    folders: dict[str, dict] = {}
    problems: list[dict] = []
    members: dict[str, list[str]] = {}
    for folder in (f for f in PHOTO_FOLDERS if f.package in roots):
        pkg = packages[folder.package]
        if folder.rcc and not (roots[folder.package] / folder.rcc).is_file():
            problems.append({"folder": folder.name, "path": folder.rcc, "problem": "bundle not in the package"})
            log(f"{folder.name}: no {folder.rcc} in {folder.package}")
            continue
        files, readme = _folder_files(folder, roots[folder.package])
        credits = parse_credits(readme) if readme is not None else None
        album = roots[folder.package] / folder.album if folder.album else None
        angles = album_angles(album.read_bytes()) if album is not None and album.is_file() else {}
        album_dir = posixpath.dirname(folder.album)
        here = posixpath.dirname(folder.readme)
        whole = Credit(pkg.get("copyright", ""), pkg.get("licence", "unknown"), pkg.get("source_url", ""))
        stats = {"label": folder.label, "package": folder.package, "found": len(files),
                 "expected": folder.expected, "kept": 0, "duplicates": 0}
        members[folder.name] = []
        for path, data in files:
            rel = posixpath.relpath(path, here) if credits is not None else ""
            credit = whole if credits is None else credits.get(rel)
            if credit is None:
                problems.append({"folder": folder.name, "path": path, "problem": "not listed in the README"})
            origin = _origin(folder, pkg["version"], path, credit)
            try:
                image = _decode(data)
                if angles:
                    image = turn(image, angles.get(posixpath.relpath(path, album_dir), 0))
            except (OSError, ValueError) as e:
                problems.append({"folder": folder.name, "path": path, "problem": f"cannot decode: {e}"})
                continue
            digest = pixels_sha256(image)
            same = index.find(image, digest)
            if same is not None:  # the same photo in an earlier folder: one more origin
                kept = photos[same]
                kept.setdefault("also", []).append(origin)
                if folder.label != kept["label"] and folder.label not in kept.setdefault("labels", [kept["label"]]):
                    kept["labels"].append(folder.label)
                if image.width * image.height > kept["pixels"]:  # keep the larger copy's pixels
                    kept.update(size=_save(image, cache / kept["file"]), pixels=image.width * image.height,
                                pixels_sha256=digest, pixels_from={"rcc": origin["rcc"], "path": path})
                stats["duplicates"] += 1
                members[folder.name].append(kept["file"])
                continue
            short = _SHORT.get(folder.package, folder.package)
            stem = posixpath.splitext(path[len(folder.prefix):])[0]
            name = f"{short}__{_safe((folder.name.removeprefix(short + '/') + '/' + stem).replace('/', '_'))}.jpg"
            record = {"file": f"photos/{name}", **origin, "size": _save(image, cache / "photos" / name),
                      "pixels": image.width * image.height, "pixels_sha256": digest}
            index.add(image, digest)
            photos.append(record)
            stats["kept"] += 1
            members[folder.name].append(record["file"])
        if credits is not None:  # README entries naming a photo that is not there (typos)
            listed = {posixpath.normpath(posixpath.join(here, r)) for r in credits}
            for missing in sorted(listed - {p for p, _ in files}):
                if missing.startswith(folder.prefix) and _is_photo(missing[len(folder.prefix):], folder.recursive):
                    problems.append({"folder": folder.name, "path": missing,
                                     "problem": "listed in the README but not in the package"})
        if folder.expected and len(files) != folder.expected:
            log(f"{folder.name}: {len(files)} photos, {folder.expected} expected (another package version?)")
        folders[folder.name] = stats
    return photos, folders, problems, members


def _complete(manifest: dict, cache: Path, packages: tuple[str, ...]) -> bool:
    if manifest.get("selection") != _selection(packages) or manifest.get("errors"):
        return False
    for package in packages:
        debs = sorted((cache / "debs").glob(f"{package}_*.deb"))
        if not debs or manifest.get("packages", {}).get(package, {}).get("version") != deb_version(debs[-1]):
            return False
    return all((cache / p["file"]).is_file() for p in manifest.get("photos", []))


def fetch_photos(cache: str | Path = DEFAULT_CACHE, *, packages: tuple[str, ...] = PHOTO_PACKAGES,
                 download: bool = True, force: bool = False, log: Callable[[str], None] = print) -> dict:
    """Fetch the labelled photos of :data:`PHOTO_FOLDERS` into ``cache/photos``; a no-op when already done.

    Args:
        cache: the cache folder of :func:`pixelnet.fetch.fetch_real` (created if needed).
        packages: the packages to take photos from (default: all of :data:`PHOTO_PACKAGES`).
        download: run ``apt-get download`` for a missing ``.deb`` (else it must be in ``CACHE/debs``).
        force: redo the photos even if the manifest says they are done.
        log: progress messages.

    Returns:
        the manifest (also written to ``CACHE/photos/manifest.json``): ``{"format", "selection",
        "packages": {package: {version, deb, licence_file, licence, copyright, source_url}},
        "photos": [{file, folder, label, package, version, rcc, path, licence, licence_id, copyright,
        source_url, [comments], size, pixels, pixels_sha256, [pixels_from], split, [also: [origins]],
        [labels]}], "folders":
        {name: {label, package, found, expected, kept, duplicates, split: {train, val, test}}},
        "duplicates", "splits", "problems": [{folder, path, problem}], "errors": {package: message}}``.

    Raises:
        ValueError: an unknown package.
        FetchError: no package could be fetched.
    """
    unknown = [p for p in packages if p not in PHOTO_PACKAGES]
    if unknown:
        raise ValueError(f"unknown photo package {unknown[0]!r}; expected one of {PHOTO_PACKAGES}")
    cache = Path(cache).expanduser()
    path = cache / PHOTOS_MANIFEST
    old = json.loads(path.read_text()) if path.is_file() else {}
    if not force and _complete(old, cache, packages):
        log("photos: already fetched")
        return old
    entries: dict[str, dict] = {}
    roots: dict[str, Path] = {}
    errors: dict[str, str] = {}
    for package in packages:
        try:
            entries[package], roots[package] = _unpack(package, cache, download=download, log=log)
        except (FetchError, OSError) as e:
            errors[package] = str(e)
            log(f"{package}: {e}")
    for p in old.get("photos", []):  # the new run writes its own files
        (cache / p["file"]).unlink(missing_ok=True)
    try:
        photos, folders, problems, members = _collect(entries, roots, cache, log)
    except ValueError as e:  # a corrupt .rcc bundle
        raise FetchError(f"photos: {e}") from e
    split = split_photos({p["file"]: f"{p['package']}/{p['rcc'] or ''}/{p['path']}".replace("//", "/")
                          for p in photos}, members)
    for p in photos:
        p["split"] = split[p["file"]]
    for name, stats in folders.items():
        stats["split"] = {s: sum(split[f] == s for f in members[name]) for s in ("train", "val", "test")}
    manifest = {
        "format": PHOTOS_FORMAT, "selection": _selection(packages), "packages": entries, "photos": photos,
        "folders": folders, "duplicates": sum(len(p.get("also", [])) for p in photos),
        "splits": {s: sum(p["split"] == s for p in photos) for s in ("train", "val", "test")},
        "problems": problems, "errors": errors,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    if not photos and errors:
        raise FetchError("no photos could be fetched: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    return manifest
