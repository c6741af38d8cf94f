"""Distillation: pseudo-labels that teachers give real photos, and the datasets built on them
(real-photo categories, HED-distilled edges).

May import: ``pixelnet.teachers``, ``pixelnet.objects``, ``pixelnet.synth``, ``pixelnet.datasets``,
``pixelnet.fetch``, ``pixelnet.metrics`` and the core modules; never ``data`` or ``engine``.
"""

from pixelnet.distill.hed import HED_MAP_SIDE, HEDDistilled, MixedEdges, hed_map, hed_targets
from pixelnet.distill.objects import ObjectRule, PhotoMaps, TeacherMaps, category_targets, where_targets
from pixelnet.distill.pseudo_labels import (
    CLOTHING_GATE,
    COMPOSITE_CLASS,
    LABEL_SIDE,
    NOT_PERSON,
    PERSON,
    PROB_STRIDE,
    PSEUDO_CLASSES,
    LabelRule,
    PseudoLabeler,
    cached_labels,
    cached_probs,
    category_class_map,
    combine_person,
    pseudo_labels,
    read_photo,
    sample_labels,
)
from pixelnet.distill.real_categories import RealCategories, real_photo_files
from pixelnet.distill.real_objects import HELD_OUT_PREFIXES, RealObjects, labelled_photos, object_photo_files

__all__ = [
    "CLOTHING_GATE", "COMPOSITE_CLASS", "HEDDistilled", "HED_MAP_SIDE", "HELD_OUT_PREFIXES", "LABEL_SIDE",
    "LabelRule", "MixedEdges", "NOT_PERSON", "ObjectRule", "PERSON", "PROB_STRIDE", "PSEUDO_CLASSES", "PhotoMaps",
    "PseudoLabeler", "RealCategories", "RealObjects", "TeacherMaps", "cached_labels", "cached_probs",
    "category_class_map", "category_targets", "combine_person", "hed_map", "hed_targets", "labelled_photos",
    "object_photo_files", "pseudo_labels", "read_photo", "real_photo_files", "sample_labels", "where_targets",
]
