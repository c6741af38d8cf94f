"""Datasets for PixelNet: SynthScenes (procedural, exact ground truth) and real-dataset loaders.

Every dataset returns samples as dicts of numpy arrays with one structure (documented in
:mod:`pixelnet.data.synthscenes`); :func:`build_dataset` builds any of them by name.
"""

from pixelnet.data.bsds import BSDS500, HEDBSDS
from pixelnet.data.common import IGNORE_INDEX, DatasetError
from pixelnet.data.nyuv2 import NYU13_CLASSES, NYUv2Normals
from pixelnet.data.pascal import PASCAL_CONTEXT_CLASSES, VOC2012, VOC_CLASSES, PascalContext
from pixelnet.data.registry import DATASET_TASKS, DATASETS, build_dataset, dataset_classes
from pixelnet.data.sbd import SBD, VOCAug
from pixelnet.data.synthscenes import SYNTH_CLASSES, SYNTH_SPLITS, SynthScenes, render_scene

__all__ = [
    "BSDS500",
    "DATASETS",
    "DATASET_TASKS",
    "HEDBSDS",
    "IGNORE_INDEX",
    "NYU13_CLASSES",
    "PASCAL_CONTEXT_CLASSES",
    "SBD",
    "SYNTH_CLASSES",
    "SYNTH_SPLITS",
    "VOC2012",
    "VOC_CLASSES",
    "VOCAug",
    "DatasetError",
    "NYUv2Normals",
    "PascalContext",
    "SynthScenes",
    "build_dataset",
    "dataset_classes",
    "render_scene",
]
