"""Read Qt binary resource bundles (``.rcc`` files written by ``rcc -binary``), e.g. GCompris' activity data.

Written here because no library the project keeps can read ``.rcc`` (the format is Qt's; see
``qresource.cpp`` / ``rcc.cpp``). Layout, all integers big-endian::

    header  "qres", u32 version (1-3), u32 tree offset, u32 data offset, u32 names offset[, u32 flags (v3)]
    tree    nodes of 14 bytes (v1) or 22 bytes (v2+); node 0 is the root directory:
            u32 name offset, u16 flags, then a directory: u32 child count, u32 first child node
                                        or a file:      u16 territory, u16 language, u32 data offset
            [, u64 last modified, ms since the epoch (v2+)]
    names   u16 length (UTF-16 code units), u32 qt_hash, UTF-16BE characters
    data    u32 length, bytes (flag 0x01: zlib, after a u32 uncompressed size; flag 0x04: zstd)
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["iter_rcc", "list_rcc", "read_rcc"]

COMPRESSED, DIRECTORY, COMPRESSED_ZSTD = 0x01, 0x02, 0x04


def _take(buf: mmap.mmap | bytes, fmt: str, at: int, path: Path) -> tuple:
    """``struct.unpack_from`` (``fmt`` may be ``"<n>s"`` for raw bytes), a ValueError past the end."""
    if at + struct.calcsize(fmt) > len(buf):
        raise ValueError(f"{path}: corrupt .rcc file (reading {fmt} at byte {at}, beyond its {len(buf)} bytes)")
    return struct.unpack_from(fmt, buf, at)


def _walk(buf: mmap.mmap | bytes, path: Path, prefix: str) -> Iterator[tuple[str, int, int]]:
    """(path, flags, absolute data offset) of every file whose path starts with ``prefix``."""
    if buf[:4] != b"qres":
        raise ValueError(f"{path} is not a Qt resource bundle (.rcc): it does not start with 'qres'")
    version, tree, data, names = _take(buf, ">4I", 4, path)
    if version not in (1, 2, 3):
        raise ValueError(f"{path}: unsupported .rcc format version {version} (known: 1, 2, 3)")
    size = 14 if version == 1 else 22
    stack, seen = [(0, "")], set()
    while stack:
        node, name = stack.pop()
        if node in seen:
            raise ValueError(f"{path}: corrupt .rcc tree (node {node} reached twice)")
        seen.add(node)
        flags, a, b = _take(buf, ">HII", tree + node * size + 4, path)
        if not flags & DIRECTORY:
            if name.startswith(prefix):
                yield name, flags, data + b
            continue
        if name and not (name.startswith(prefix) or prefix.startswith(name + "/")):
            continue  # no wanted path below this folder
        children = []
        for child in range(b, b + a):
            (at,) = _take(buf, ">I", tree + child * size, path)
            (n,) = _take(buf, ">H", names + at, path)
            (raw,) = _take(buf, f"{2 * n}s", names + at + 6, path)
            child_name = raw.decode("utf-16-be", errors="replace")
            children.append((child, f"{name}/{child_name}" if name else child_name))
        stack.extend(sorted(children, key=lambda c: c[1], reverse=True))  # pop in name order


def _payload(buf: mmap.mmap | bytes, flags: int, offset: int, name: str, path: Path) -> bytes:
    (n,) = _take(buf, ">I", offset, path)
    (raw,) = _take(buf, f"{n}s", offset + 4, path)
    if flags & COMPRESSED:
        try:
            return zlib.decompress(raw[4:])  # qCompress: u32 uncompressed size, then a zlib stream
        except zlib.error as e:
            raise ValueError(f"{path}: corrupt zlib data in {name}: {e}") from e
    if flags & COMPRESSED_ZSTD:
        try:
            import zstandard
        except ImportError as e:
            raise ImportError(f"{path}: {name} is zstd-compressed; pip install zstandard to read it") from e
        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    return raw


@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap]:
    with open(path, "rb") as f:
        if path.stat().st_size < 20:
            raise ValueError(f"{path} is not a Qt resource bundle (.rcc): only {path.stat().st_size} bytes")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            yield buf


def iter_rcc(path: str | Path, prefix: str | None = None) -> Iterator[tuple[str, bytes]]:
    """Yield the files of an ``.rcc`` bundle, decompressed, depth first in name order.

    Args:
        path: the ``.rcc`` file.
        prefix: keep only paths starting with this string (e.g. ``"erase/resource/"``; a leading
            ``/`` or ``:/`` is ignored); ``None`` keeps all.

    Returns:
        An iterator of ``(path, bytes)``; paths are ``/``-separated, without a leading ``/``.

    Raises:
        ValueError: not an ``.rcc`` file, or a corrupt one.
        ImportError: a zstd-compressed file (flag 0x04) is read and ``zstandard`` is not installed.
    """
    path = Path(path)
    pre = (prefix or "").removeprefix(":").lstrip("/")
    with _mapped(path) as buf:
        for name, flags, offset in _walk(buf, path, pre):
            yield name, _payload(buf, flags, offset, name, path)


def list_rcc(path: str | Path) -> list[str]:
    """All file paths inside an ``.rcc`` bundle (``/``-separated, sorted; folders not listed).

    Args:
        path: the ``.rcc`` file.

    Returns:
        The paths, e.g. ``["erase/resource/images/a.webp", ...]``.

    Raises:
        ValueError: not an ``.rcc`` file, or a corrupt one.
    """
    path = Path(path)
    with _mapped(path) as buf:
        return sorted(name for name, _, _ in _walk(buf, path, ""))


def read_rcc(path: str | Path, prefix: str | None = None) -> dict[str, bytes]:
    """Every file of an ``.rcc`` bundle in memory (see :func:`iter_rcc`).

    Args:
        path: the ``.rcc`` file.
        prefix: keep only paths starting with this string; ``None`` keeps all.

    Returns:
        ``{path: bytes}``.
    """
    return dict(iter_rcc(path, prefix))
