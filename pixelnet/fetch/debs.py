"""Debian packages without ``dpkg``: ``apt-get download`` a ``.deb`` (or take it from a folder) and
unpack chosen members of its ``data.tar.*`` with a small ``ar`` + ``tar`` reader.

Written here rather than with ``python-debian`` or ``unix-ar``: 60 lines replace a dependency, and
``dpkg -x`` is not on every machine that fetches the real-photo cache
(:mod:`pixelnet.fetch.real`).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["NO_APT", "FetchError", "deb_version", "find_deb", "read_deb_members"]

NO_APT = ("apt-get is not available here. Download the .deb files by hand (e.g. from "
          "https://packages.debian.org/bookworm/all/<package>/download) into {debs} and run this again; "
          "or run this on a Debian/Ubuntu machine and copy the cache folder, then point --data-root at it.")


class FetchError(RuntimeError):
    """A source could not be fetched or unpacked (the message says what to do)."""


def _ar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Members of an ``ar`` archive (the container of a ``.deb``)."""
    if not data.startswith(b"!<arch>\n"):
        raise FetchError("not a .deb (ar) archive")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        pos += 60
        yield name, data[pos:pos + size]
        pos += size + (size % 2)


def read_deb_members(deb: Path, out: Path, keep: Callable[[str], bool]) -> list[str]:
    """Unpack the members of a ``.deb``'s ``data.tar.*`` that ``keep`` accepts.

    Args:
        deb: the package file.
        out: folder to unpack into (paths keep their ``usr/...`` layout).
        keep: predicate on a member's path without the leading ``./``.

    Returns:
        the unpacked paths, relative to ``out``.

    Raises:
        FetchError: not a ``.deb``, or a compression Python cannot read (zstd).
    """
    for name, payload in _ar_members(deb.read_bytes()):
        if not name.startswith("data.tar"):
            continue
        if name.endswith(".zst"):
            raise FetchError(f"{deb.name} is zstd-compressed; unpack it with `dpkg -x {deb} {out}`")
        written = []
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tar:
            for m in tar:
                path = m.name.removeprefix("./")
                if not (m.isfile() or m.issym() or m.islnk()) or ".." in Path(path).parts or not keep(path):
                    continue
                src = tar.extractfile(m)  # follows links inside the archive
                if src is None:
                    continue
                dest = out / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                with src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                written.append(path)
        return written
    raise FetchError(f"{deb.name} has no data.tar member")


def find_deb(debs: Path, package: str, *, download: bool, log: Callable[[str], None]) -> Path:
    """The newest ``package_*.deb`` in ``debs``, downloaded there with ``apt-get download`` if missing.

    Raises:
        FetchError: none there and ``download`` is off, or apt-get is missing or fails.
    """
    found = sorted(debs.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    if not download:
        raise FetchError(f"no {package}_*.deb in {debs}")
    if shutil.which("apt-get") is None:
        raise FetchError(NO_APT.format(debs=debs))
    debs.mkdir(parents=True, exist_ok=True)
    log(f"apt-get download {package}")
    r = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if r.returncode != 0 or not found:
        msg = (r.stderr or r.stdout).strip().splitlines()
        raise FetchError(f"apt-get download {package} failed ({msg[-1] if msg else r.returncode}); try "
                         f"`apt-get update` first, or put the .deb in {debs} by hand")
    return found[-1]


def deb_version(deb: Path) -> str:
    """The version in a ``.deb``'s file name (``name_version_arch.deb``; ``%3a`` is ``:``)."""
    parts = deb.stem.split("_")
    return parts[1].replace("%3a", ":") if len(parts) >= 2 else "?"
