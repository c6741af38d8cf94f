"""Datasets for PixelNet: SynthScenes (procedural, exact ground truth) and real-dataset loaders.

Every dataset returns samples as dicts of numpy arrays with one structure (documented in
:mod:`pixelnet.data.synthscenes`); :func:`build_dataset` builds any of them by name.
"""

from pixelnet.data.bsds import BSDS500, HEDBSDS
from pixelnet.data.common import IGNORE_INDEX, DatasetError
from pixelnet.data.composites import CLOSE_UP_SCALE, COMPOSITE_SPLITS, Composites, composite_classes, split_by_source
from pixelnet.data.imagenet_categories import ImageNetClass, imagenet_classes
from pixelnet.data.middlebury import MOTORCYCLE_CALIBRATION, MiddleburyMotorcycle, disparity_to_normals
from pixelnet.data.middlebury_aloe import MiddleburyAloe
from pixelnet.data.nyuv2 import NYU13_CLASSES, NYUv2Normals
from pixelnet.data.pascal import PASCAL_CONTEXT_CLASSES, VOC2012, VOC_CLASSES, PascalContext
from pixelnet.data.registry import DATASET_TASKS, DATASETS, ROOTLESS_DATASETS, build_dataset, dataset_classes
from pixelnet.data.sbd import SBD, VOCAug
from pixelnet.data.synthscenes import SYNTH_CLASSES, SYNTH_SPLITS, SynthScenes, render_scene

__all__ = [
    "BSDS500",
    "CLOSE_UP_SCALE",
    "COMPOSITE_SPLITS",
    "DATASETS",
    "DATASET_TASKS",
    "HEDBSDS",
    "IGNORE_INDEX",
    "MOTORCYCLE_CALIBRATION",
    "NYU13_CLASSES",
    "PASCAL_CONTEXT_CLASSES",
    "ROOTLESS_DATASETS",
    "SBD",
    "SYNTH_CLASSES",
    "SYNTH_SPLITS",
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
