"""Reading Qt binary resource bundles (pixelnet.fetch.rcc) from bundles written here and by Qt's rcc.

``tests/fixtures/tiny.rcc`` (735 bytes) was made once by Qt 6.4.2's ``rcc -binary tiny.qrc`` from::

    <RCC>
      <qresource prefix="/">
        <file compression-algorithm="none">hello.txt</file>
        <file compression-algorithm="zlib" threshold="0">sub/repeat.txt</file>
        <file compression-algorithm="zstd" threshold="0">sub/deeper/zstd.txt</file>
        <file compression-algorithm="none">sub/deeper/raw.bin</file>
      </qresource>
      <qresource prefix="/Ünïcode">
        <file alias="ÄÖ.txt" compression-algorithm="zlib" threshold="0">hello.txt</file>
      </qresource>
    </RCC>
"""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path

import pytest

from pixelnet.fetch.rcc import iter_rcc, list_rcc, read_rcc

TINY = Path(__file__).parent / "fixtures" / "tiny.rcc"
TINY_FILES = {
    "hello.txt": b"hello rcc\n",
    "sub/repeat.txt": b"pixelnet " * 100,
    "sub/deeper/zstd.txt": b"zstandard " * 80,
    "sub/deeper/raw.bin": bytes(range(256)),
    "Ünïcode/ÄÖ.txt": b"hello rcc\n",
}


def qt_hash(name: str) -> int:
    """Qt's ``qt_hash`` of a name (the hash stored beside it; rcc sorts siblings by it)."""
    h = 0
    for unit in struct.unpack(f">{len(name.encode('utf-16-be')) // 2}H", name.encode("utf-16-be")):
        h = (h << 4) + unit
        h ^= (h & 0xF0000000) >> 23
        h &= 0x0FFFFFFF
    return h


def write_rcc(files: dict[str, tuple[bytes, bool]], version: int = 3) -> bytes:
    """A binary .rcc laid out as rcc.cpp writes one: header, data, names, tree (breadth first).

    Args:
        files: ``{"a/b.txt": (content, zlib_compress)}``.
        version: the format version (1: 14-byte nodes; 2, 3: 22-byte nodes; 3: overall flags).
    """
    root: dict = {}
    for path, entry in files.items():
        *dirs, leaf = path.split("/")
        node = root
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = entry
    data, names, name_at = bytearray(), bytearray(), {}

    def name_offset(name: str) -> int:
        if name not in name_at:
            name_at[name] = len(names)
            names.extend(struct.pack(">HI", len(name.encode("utf-16-be")) // 2, qt_hash(name)))
            names.extend(name.encode("utf-16-be"))
        return name_at[name]

    nodes: list[bytes] = [b""]  # root is node 0, filled in below
    queue = [(0, "", root)]
    while queue:
        index, name, children = queue.pop(0)
        first = len(nodes)
        ordered = sorted(children.items(), key=lambda kv: qt_hash(kv[0]))
        nodes.extend(b"" for _ in ordered)
        nodes[index] = struct.pack(">IHII", name_offset(name) if index else 0, 0x02, len(ordered), first)
        for i, (child, value) in enumerate(ordered, start=first):
            if isinstance(value, dict):
                queue.append((i, child, value))
                continue
            content, compress = value
            payload = struct.pack(">I", len(content)) + zlib.compress(content) if compress else content
            nodes[i] = struct.pack(">IHHHI", name_offset(child), int(compress), 0, 0, len(data))
            data.extend(struct.pack(">I", len(payload)) + payload)
    tail = b"" if version == 1 else struct.pack(">Q", 1_700_000_000_000)
    tree = b"".join(n + tail for n in nodes)
    header_size = 24 if version >= 3 else 20
    data_at, names_at = header_size, header_size + len(data)
    tree_at = names_at + len(names)
    header = b"qres" + struct.pack(">4I", version, tree_at, data_at, names_at)
    if version >= 3:
        header += struct.pack(">I", 0x01 if any(c for _, c in files.values()) else 0)
    return header + bytes(data) + bytes(names) + tree


FILES = {
    "readme.txt": (b"top level\n", False),
    "images/fishes/fish1.webp": (b"RIFF....WEBPVP8 " + bytes(range(200)), False),
    "images/fishes/README": (b"Copyright: someone\nLicense: CC0-1.0\nFiles:\nfish1.webp\n" * 20, True),
    "images/tools/deeper/hammer.bin": (bytes(1000), True),
    "images/tools/empty": (b"", False),
    "Ünïcode/ÄÖ.txt": ("grüße".encode(), True),
}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_round_trip_of_nested_plain_and_zlib_entries(tmp_path: Path, version: int) -> None:
    path = tmp_path / "bundle.rcc"
    path.write_bytes(write_rcc(FILES, version))
    assert list_rcc(path) == sorted(FILES)
    assert read_rcc(path) == {k: content for k, (content, _) in FILES.items()}
    assert [p for p, _ in iter_rcc(path)] == sorted(FILES)  # depth first in name order


def test_prefix_keeps_only_the_paths_below_it(tmp_path: Path) -> None:
    path = tmp_path / "bundle.rcc"
    path.write_bytes(write_rcc(FILES))
    assert list(read_rcc(path, "images/tools/")) == ["images/tools/deeper/hammer.bin", "images/tools/empty"]
    assert list(read_rcc(path, ":/images/fishes/R")) == ["images/fishes/README"]
    assert read_rcc(path, "nothing/") == {}


def test_a_file_that_is_not_an_rcc_is_refused_clearly(tmp_path: Path) -> None:
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match="is not a Qt resource bundle"):
        list_rcc(png)
    with pytest.raises(ValueError, match="is not a Qt resource bundle"):
        read_rcc(png)
    empty = tmp_path / "empty.rcc"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is not a Qt resource bundle"):
        list(iter_rcc(empty))


def test_a_truncated_or_unknown_rcc_is_refused_clearly(tmp_path: Path) -> None:
    whole = write_rcc(FILES)
    cut = tmp_path / "cut.rcc"
    cut.write_bytes(whole[: len(whole) - 30])  # the tree's last nodes are gone
    with pytest.raises(ValueError, match="corrupt .rcc"):
        read_rcc(cut)
    future = tmp_path / "future.rcc"
    future.write_bytes(whole[:4] + struct.pack(">I", 9) + whole[8:])
    with pytest.raises(ValueError, match="unsupported .rcc format version 9"):
        list_rcc(future)


def test_reads_a_bundle_written_by_qt_rcc() -> None:
    assert TINY.stat().st_size < 2048
    assert list_rcc(TINY) == sorted(TINY_FILES)
    for path, content in TINY_FILES.items():
        if "zstd" not in path:  # plain and zlib entries
            assert read_rcc(TINY, path) == {path: content}
    assert read_rcc(TINY, "/Ünïcode/") == {"Ünïcode/ÄÖ.txt": b"hello rcc\n"}


def _has_zstd() -> bool:
    return importlib.util.find_spec("zstandard") is not None


def test_zstd_entries_need_zstandard() -> None:
    if _has_zstd():
        assert read_rcc(TINY, "sub/deeper/zstd") == {"sub/deeper/zstd.txt": b"zstandard " * 80}
    else:
        with pytest.raises(ImportError, match="zstd-compressed; pip install zstandard"):
            read_rcc(TINY, "sub/deeper/zstd")


def test_the_test_writer_matches_qt_rcc() -> None:
    """The hashes and flags this file's writer produces are the ones Qt's rcc wrote."""
    blob = TINY.read_bytes()
    version, tree_at, _, names_at, overall = struct.unpack_from(">5I", blob, 4)
    assert (version, overall) == (3, 0x01 | 0x04)  # v3, zlib and zstd entries
    records = _name_records(blob, names_at, tree_at)  # rcc writes the names just before the tree
    assert all(stored == qt_hash(name) for name, stored in records), records
    assert {n for n, _ in records} == {"hello.txt", "sub", "deeper", "repeat.txt", "zstd.txt", "raw.bin", "Ünïcode",
                                       "ÄÖ.txt"}
    flags = [struct.unpack_from(">H", blob, tree_at + 22 * i + 4)[0] for i in range((len(blob) - tree_at) // 22)]
    # 4 folders (root too), 1 zlib, 1 zstd; 3 plain: rcc keeps ÄÖ.txt plain, as zlib would enlarge it
    assert sorted(flags) == [0, 0, 0, 1, 2, 2, 2, 2, 4]
    ours = write_rcc({k: (v, k.endswith("repeat.txt")) for k, v in TINY_FILES.items()})
    tree, names = struct.unpack_from(">I", ours, 8)[0], struct.unpack_from(">I", ours, 16)[0]
    assert ours[:8] == blob[:8] and sorted(_name_records(ours, names, tree)) == sorted(records)
    assert len(ours) - tree == len(blob) - tree_at  # as many 22-byte nodes


def _name_records(blob: bytes, start: int, end: int) -> list[tuple[str, int]]:
    """(name, stored hash) of the names section ``blob[start:end]``."""
    out = []
    while start < end:
        n, stored = struct.unpack_from(">HI", blob, start)
        out.append((blob[start + 6:start + 6 + 2 * n].decode("utf-16-be"), stored))
        start += 6 + 2 * n
    return out
