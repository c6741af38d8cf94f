"""Every dataset by name: :func:`build_dataset` and :data:`DATASETS`, the one registry the CLIs'
``--data`` reads, over the published loaders (:mod:`pixelnet.datasets`), the data made with exact
labels (:mod:`pixelnet.synth`) and the distilled data (:mod:`pixelnet.distill`).

Every dataset returns samples as dicts of numpy arrays with one structure (documented in
:mod:`pixelnet.synth.scenes`). The names below are re-exported from where they live, so
``from pixelnet.data import SynthScenes`` keeps working.

May import: ``pixelnet.datasets``, ``pixelnet.synth``, ``pixelnet.distill``, ``pixelnet.teachers``
and the core modules; never ``engine`` or ``evaluation``.
"""

from pixelnet.data.registry import (
    DATASET_TASKS,
    DATASET_WHAT,
    DATASETS,
    EVAL_ONLY_DATASETS,
    ROOTLESS_DATASETS,
    TRAIN_DATASETS,
    build_dataset,
    dataset_classes,
)
from pixelnet.datasets.bsds import BSDS500, HEDBSDS
from pixelnet.datasets.common import IGNORE_INDEX, DatasetError
from pixelnet.datasets.middlebury import MOTORCYCLE_CALIBRATION, MiddleburyMotorcycle, disparity_to_normals
from pixelnet.datasets.middlebury_aloe import MiddleburyAloe
from pixelnet.datasets.nyuv2 import NYU13_CLASSES, NYUv2Normals
from pixelnet.datasets.pascal import PASCAL_CONTEXT_CLASSES, VOC2012, VOC_CLASSES, PascalContext
from pixelnet.datasets.sbd import SBD, VOCAug
from pixelnet.synth.composites import CLOSE_UP_SCALE, COMPOSITE_SPLITS, Composites, composite_classes, split_by_source
from pixelnet.synth.scenes import SYNTH_CLASSES, SYNTH_SPLITS, SynthScenes, render_scene
from pixelnet.teachers.imagenet_categories import ImageNetClass, imagenet_classes

__all__ = [
    "BSDS500",
    "CLOSE_UP_SCALE",
    "COMPOSITE_SPLITS",
    "DATASETS",
    "DATASET_TASKS",
    "DATASET_WHAT",
    "EVAL_ONLY_DATASETS",
    "HEDBSDS",
    "IGNORE_INDEX",
    "MOTORCYCLE_CALIBRATION",
    "NYU13_CLASSES",
    "PASCAL_CONTEXT_CLASSES",
    "ROOTLESS_DATASETS",
    "SBD",
    "SYNTH_CLASSES",
    "SYNTH_SPLITS",
    "TRAIN_DATASETS",
    "VOC2012",
    "VOC_CLASSES",
    "VOCAug",
    "Composites",
    "DatasetError",
    "ImageNetClass",
    "MiddleburyAloe",
    "MiddleburyMotorcycle",
    "NYUv2Normals",
    "PascalContext",
    "SynthScenes",
    "build_dataset",
    "composite_classes",
    "dataset_classes",
    "imagenet_classes",
    "disparity_to_normals",
    "render_scene",
    "split_by_source",
]
