"""Data made with exact labels: SynthScenes (procedural indoor scenes rendered by ray casting:
geometry, layout, textures, photo materials, the gallery figure) and the composites of real
photo cut-outs pasted onto real backgrounds.

May import: ``pixelnet.datasets`` (the sample structure, ``IGNORE_INDEX``) and the core modules;
never ``teachers``, ``distill``, ``data`` or ``engine``.
"""

from pixelnet.synth.composites import (
    CLOSE_UP_SCALE,
    COMPOSITE_LENGTHS,
    COMPOSITE_SPLITS,
    BackgroundCrop,
    Composites,
    Paste,
    composite_classes,
    split_by_source,
)
from pixelnet.synth.gallery import SYNTH_PALETTE, colour_edges, colour_labels, colour_normals, gallery, save_example
from pixelnet.synth.layout import OBJECT_CLASSES, ROOM_FACE_CLASSES, Camera, Light, Scene, sample_scene
from pixelnet.synth.photos import PHOTO_EXTS, PhotoTextures, photo_files
from pixelnet.synth.scenes import SYNTH_CLASSES, SYNTH_SPLITS, SynthScenes, render_scene, with_photo_materials
from pixelnet.synth.textures import PATTERNS, PHOTOS, Material, albedo, photo_texture, sample_material

__all__ = [
    "CLOSE_UP_SCALE", "COMPOSITE_LENGTHS", "COMPOSITE_SPLITS", "OBJECT_CLASSES", "PATTERNS", "PHOTOS", "PHOTO_EXTS",
    "ROOM_FACE_CLASSES", "SYNTH_CLASSES", "SYNTH_PALETTE", "SYNTH_SPLITS", "BackgroundCrop", "Camera", "Composites",
    "Light", "Material", "Paste", "PhotoTextures", "Scene", "SynthScenes", "albedo", "colour_edges",
    "colour_labels", "colour_normals", "composite_classes", "gallery", "photo_files", "photo_texture",
    "render_scene", "sample_material", "sample_scene", "save_example", "split_by_source", "with_photo_materials",
]
