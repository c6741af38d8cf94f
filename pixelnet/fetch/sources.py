"""What :func:`pixelnet.fetch.fetch_real` takes from which package: the tables of sources and files.

Each table was chosen by looking at every image of each package; the fetching itself is in
:mod:`pixelnet.fetch.real`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BACKGROUND_FILES", "CUTOUT_CLASSES", "DEB_SOURCES", "DEFAULT_CACHE", "GEOMETRY_FILES", "ISNET_NPM_PACKAGE",
    "GCOMPRIS_RCC", "PERSON_MODEL", "PERSON_MODEL_MEMBER", "PHOTO_EXTENSIONS", "PHOTO_FOLDERS", "PHOTO_PACKAGES",
    "PYPI_BACKGROUNDS", "PYPI_SCENES", "SALIENT_MODEL", "SCENE_FILES", "STAMPS_DIR", "TEACHER_WHEEL", "WALLPAPER_DIRS",
    "DebSource", "PhotoFolder",
]

DEFAULT_CACHE = Path.home() / ".cache" / "pixelnet" / "real"
"""Default cache folder (outside the repository)."""


CUTOUT_CLASSES: dict[str, str] = {
    "animals": "animal",
    "plants": "plant",
    "food": "food",
    "vehicles": "vehicle",
    "military/vehicles": "vehicle",
    "household": "household",
    "hobbies/music": "instrument",
    "sports": "sports",
}
"""Tux Paint stamp folder (prefix under ``stamps/``) -> class name. Other folders (clothes,
symbols, town, seasonal, ...) are mostly clip-art and are skipped."""

BACKGROUND_FILES: dict[str, tuple[str, ...]] = {
    # KDE Plasma 5.27: the wallpapers that are photographs without boats, cups or the like
    # (the others are renders or drawings; EveningGlow shows boats, ColorfulCups cups)
    "plasma-workspace-wallpapers": ("BytheWater", "ColdRipple", "FallenLeaf", "Path"),
    # MATE: the nature photos without close-ups of flowers, leaves or animals
    "mate-backgrounds": (
        "nature/Aqua.jpg", "nature/Dune.jpg", "nature/GreenMeadow.jpg", "nature/RainDrops.jpg",
        "nature/Storm.jpg", "nature/Wood.jpg",
    ),
    # Lomiri: landscapes (not the pomegranate, brushes, lamps with a bird, clock or dog)
    "lomiri-wallpapers-16.04": (
        "Bridge_by_Sander_Klootwijk.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg", "life_by_Aitzol_Berasategi.jpg",
        "picosdeeuropa_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg",
        "sunset_by_Aitzol_Berasategi.jpg",
    ),
    # OpenCV sample photos of scenes (no fruit, fish, baboon, dog, car or people: classes or examples);
    # one photo of each pair of views of a scene (graf1/graf3, leuvenA/leuvenB, aero1/aero3), so a
    # scene cannot be in two splits
    "opencv-doc": ("aero1.jpg", "board.jpg", "building.jpg", "graf1.png", "home.jpg", "leuvenA.jpg"),
}
"""Background photos kept per package (chosen by looking at every image of each package): paths
under the package's wallpaper folder; for Plasma the wallpaper's name (its smallest landscape
image at least 1024 px wide is used)."""

PYPI_BACKGROUNDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "scikit-image": ("skimage", "data", ("brick.png", "grass.png", "gravel.png", "hubble_deep_field.jpg")),
}
"""Installed PyPI distributions -> (import name, folder in the package, images used as
backgrounds): only scikit-image's texture images (brick, grass, gravel, the Hubble deep field).
The photos of scikit-image, scikit-learn and matplotlib (the cat, coffee, astronaut, motorcycle,
cameraman, china, flower, Grace Hopper) are the explorer's examples and the figures' held-out
photos: never training data (issue #25 moved scikit-learn's china and flower and the cameraman out)."""

GEOMETRY_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "opencv-doc": {"aloe": ("aloeL.jpg", "aloeGT.png")},
}
"""Photos with ground-truth geometry per package, copied unchanged to ``CACHE/geometry/<scene>/``
(evaluation only, never training data): opencv-doc's Middlebury 2006 *Aloe* left view and its
ground-truth disparity (see :mod:`pixelnet.datasets.middlebury_aloe`)."""

SCENE_FILES: dict[str, tuple[str, ...]] = {
    # OpenCV sample photos that show things (one view of each pair: basketball1, not basketball2);
    # drawings (HappyFish, pic*), the painting and logos are left out
    "opencv-doc": ("apple.jpg", "baboon.jpg", "basketball1.png", "box_in_scene.png", "butterfly.jpg",
                   "chicky_512.png", "ela_original.jpg", "fruits.jpg", "left.jpg", "licenseplate_motion.jpg",
                   "messi5.jpg", "orange.jpg", "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg"),
    # the wallpapers left out of the backgrounds because they show objects, animals or flowers
    "plasma-workspace-wallpapers": ("ColorfulCups", "EveningGlow", "Kite", "OneStandsOut", "summer_1am"),
    "mate-backgrounds": ("nature/FreshFlower.jpg", "nature/Garden.jpg", "nature/LadyBird.jpg", "nature/TwoWings.jpg",
                         "nature/YellowFlower.jpg"),
    "lomiri-wallpapers-16.04": (
        "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg", "Picture_1A_by_freespace.jpg",
        "Wine_by_Jakkub_Mede.jpg", "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg",
        "greentock_by_Peter_Nerlich.jpg",
    ),
}
"""Scene photos kept per package (``CACHE/scenes/``): real photographs that *do* show objects,
animals, food, plants or people, chosen by looking at each image; the real photos of the category
pseudo-labels (:mod:`pixelnet.distill.real_categories`). Never the example photos of the explorer."""

PYPI_SCENES: dict[str, tuple[str, str, tuple[str, ...]]] = {}
"""Installed PyPI distributions -> (import name, folder, scene photos): none since issue #25 (the
packages' photos are held out; see :data:`PYPI_BACKGROUNDS`)."""

WALLPAPER_DIRS = {
    "plasma-workspace-wallpapers": "usr/share/wallpapers",
    "mate-backgrounds": "usr/share/backgrounds/mate",
    "lomiri-wallpapers-16.04": "usr/share/backgrounds",
    "opencv-doc": "usr/share/doc/opencv-doc/examples/data",
}
STAMPS_DIR = "usr/share/tuxpaint/stamps"


@dataclass(frozen=True)
class DebSource:
    """A Debian package and the members of it we need."""

    package: str
    role: str  # "cutouts" or "backgrounds"
    prefix: str  # folder inside the package holding the images


DEB_SOURCES: dict[str, DebSource] = {
    "tuxpaint-stamps-default": DebSource("tuxpaint-stamps-default", "cutouts", STAMPS_DIR),
    **{p: DebSource(p, "backgrounds", d) for p, d in WALLPAPER_DIRS.items()},
}
"""The Debian packages fetched, by name."""


TEACHER_WHEEL = ("mediapipe", "0.10.21")
"""The PyPI wheel that ships the person teacher (1.x wheels no longer carry it)."""

PERSON_MODEL = "selfie_segmentation.tflite"
"""File name of the person teacher in ``CACHE/teachers/``."""

PERSON_MODEL_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
"""Its path inside the ``mediapipe==0.10.21`` wheel."""

ISNET_NPM_PACKAGE = "@imgly/background-removal-data@1.4.5"
"""The npm package (name@version) that carries ISNet, the salient-object teacher (model MIT, package AGPL-3.0)."""

SALIENT_MODEL = "isnet_medium.onnx"
"""File name of the salient teacher in ``CACHE/teachers/`` (ISNet's fp16 ``/models/medium``)."""


@dataclass(frozen=True)
class PhotoFolder:
    """A folder of real photos inside a Debian package, with its image-level label.

    ``prefix`` is a folder inside the ``.rcc`` bundle ``rcc`` (a path inside the package), or inside
    the package itself when ``rcc`` is empty. ``readme`` (same place as ``prefix``) credits the photos;
    its paths are relative to its own folder. ``album`` (inside the package) is a KPhotoAlbum
    index that turns some photos for display (:mod:`pixelnet.fetch.album`). ``expected`` is the
    count seen in the version ``docs/data.md`` names (a different count is reported, not an error).
    """

    package: str
    name: str  # the folder's name in the manifest, e.g. "categorization/fishes"
    label: str  # "" = unlabelled
    prefix: str
    rcc: str = ""
    readme: str = ""
    recursive: bool = False  # photos in sub-folders of prefix too
    expected: int = 0
    album: str = ""


GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
_ACT = "gcompris/src/activities/"


def _gcompris(name: str, label: str, rcc: str, prefix: str, expected: int, readme: str = "",
              recursive: bool = False) -> PhotoFolder:
    return PhotoFolder("gcompris-qt-data", name, label, _ACT + prefix, f"{GCOMPRIS_RCC}/{rcc}.rcc",
                       _ACT + (readme or prefix + "README"), recursive, expected)


_CAT = "categorization/resource/images/"
PHOTO_FOLDERS: tuple[PhotoFolder, ...] = (
    _gcompris("categorization/fishes", "fish", "categorization", _CAT + "fishes/", 28),
    _gcompris("categorization/monuments", "monument", "categorization", _CAT + "monuments/", 27),
    _gcompris("categorization/tools", "tool", "categorization", _CAT + "tools/", 39),
    _gcompris("categorization/renewable", "renewable", "categorization", _CAT + "renewable/", 29),
    _gcompris("categorization/others", "others", "categorization", _CAT + "others/", 17),
    # egypt/, france/, germany/, india/, usa/, wonders/ (their maps are .svg, the board/ .qml)
    _gcompris("explore_monuments", "monument", "explore_monuments", "explore_monuments/resource/", 49,
              recursive=True),
    _gcompris("explore_world_animals", "animal", "explore_world_animals", "explore_world_animals/resource/animals/",
              15),
    _gcompris("explore_farm_animals", "animal", "explore_farm_animals", "explore_farm_animals/resource/animals/", 9),
    _gcompris("explore_world_music", "instrument", "explore_world_music", "explore_world_music/resource/music/", 9),
    _gcompris("erase", "animal", "erase", "erase/resource/", 33),
    # the demo album's photos (not CategoryImages/, 64 px thumbnails of its people and places)
    PhotoFolder("kphotoalbum", "kphotoalbum/demo", "", "usr/share/kphotoalbum/demo/", expected=24,
                album="usr/share/kphotoalbum/demo/index.xml"),
)
"""The photo folders :func:`pixelnet.fetch.fetch_photos` takes, in order: a photo found in two
folders keeps the first one's label. GCompris' drawings (``lang``, the ``alphabets`` and ``numbers``
of categorization, the .svg maps) are not photos and are left out."""

PHOTO_PACKAGES: tuple[str, ...] = tuple(dict.fromkeys(f.package for f in PHOTO_FOLDERS))
"""The Debian packages of :data:`PHOTO_FOLDERS`."""

PHOTO_EXTENSIONS = (".webp", ".jpg", ".jpeg")
"""Files of a photo folder taken as photos (``.svg``, ``.ogg``, ``.qml``, ``README`` are not)."""
