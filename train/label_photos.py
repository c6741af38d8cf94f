"""Run the three teachers of ``--data real-objects`` once over every photo of the fetch cache.

``python train/label_photos.py [--cache DIR]`` computes, for each photo of ``DIR/photos`` (the
labelled GCompris and KPhotoAlbum photos), ``DIR/scenes`` and ``DIR/backgrounds`` (never the
held-out photos of scikit-image, scikit-learn and matplotlib), the salient-object mask (ISNet), the
person probability (MediaPipe's selfie model, gated by the dense teacher's clothing) and the dense
ImageNet categories, and stores them in ``DIR/teacher_maps/`` (:class:`pixelnet.distill.TeacherMaps`).
Photos already labelled are skipped, so it can be stopped and run again. ``train/run.py --data
real-objects`` and ``train/eval.py --data real-objects`` compute what is missing themselves; this
command does it up front, with a progress bar (ISNet takes 2-6 s per photo on two CPU cores).
Needs ``python train/fetch_data.py`` first (the photos and the teachers).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from pixelnet.distill import TeacherMaps, object_photo_files
from pixelnet.engine import HelpFormatter, UsageError, run_cli
from pixelnet.fetch import DEFAULT_CACHE


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help="the cache of train/fetch_data.py")
    p.add_argument("--splits", nargs="+", default=["train", "val", "test"], choices=["train", "val", "test"],
                   help="the splits whose photos are labelled")
    p.add_argument("--limit", type=int, default=None, help="label at most this many photos (a quick look)")
    p.add_argument("--shard", default="0/1", metavar="I/N",
                   help="label every N-th photo from the I-th: run N processes with 0/N .. N-1/N to use more cores")
    return p


def main(args: argparse.Namespace) -> int:
    cache = Path(args.cache).expanduser()
    if not cache.is_dir():
        raise UsageError(f"--cache {cache} does not exist (run python train/fetch_data.py --cache {cache})")
    files: list[Path] = []
    for split in args.splits:
        files += object_photo_files(cache, split)
    try:
        i, n = (int(v) for v in args.shard.split("/"))
        if not 0 <= i < n:
            raise ValueError
    except ValueError:
        raise UsageError(f"--shard takes I/N with 0 <= I < N, not {args.shard!r}") from None
    files = sorted(set(files))[: args.limit][i::n]
    maps = TeacherMaps(cache / "teacher_maps", cache=cache)
    todo = [f for f in files if not maps.has(f)]
    print(f"{len(files)} photos, {len(files) - len(todo)} already labelled, {len(todo)} to label", flush=True)
    t0 = time.perf_counter()
    for f in tqdm(todo, desc="teachers", unit="photo", disable=None):
        if not maps.has(f):  # another process may have labelled it meanwhile
            maps(f)
    if todo:
        print(f"labelled {len(todo)} photos in {time.perf_counter() - t0:.0f} s "
              f"({(time.perf_counter() - t0) / len(todo):.1f} s per photo) into {maps.store}")
    return 0


if __name__ == "__main__":
    from pixelnet.engine import parse_args

    sys.exit(run_cli(main, parse_args(get_args_parser()), prog="train/label_photos.py"))
