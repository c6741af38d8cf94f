"""Distillation: pseudo-labels that teachers give real photos, and the datasets built on them
(real-photo categories, HED-distilled edges).

May import: ``pixelnet.teachers``, ``pixelnet.synth``, ``pixelnet.datasets``, ``pixelnet.fetch``,
``pixelnet.metrics`` and the core modules; never ``data`` or ``engine``.
"""

from pixelnet.distill.hed import HED_MAP_SIDE, HEDDistilled, MixedEdges, hed_map, hed_targets
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

__all__ = [
    "CLOTHING_GATE", "COMPOSITE_CLASS", "HED_MAP_SIDE", "LABEL_SIDE", "NOT_PERSON", "PERSON", "PROB_STRIDE",
    "PSEUDO_CLASSES", "HEDDistilled", "LabelRule", "MixedEdges", "PseudoLabeler", "RealCategories",
    "cached_labels", "cached_probs", "category_class_map", "combine_person", "hed_map", "hed_targets",
    "pseudo_labels", "read_photo", "real_photo_files", "sample_labels",
]
