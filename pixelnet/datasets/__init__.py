"""Loaders of published datasets in their released layouts (BSDS500, NYUv2, PASCAL VOC and
Context, SBD, Middlebury) and what they share (:mod:`~pixelnet.datasets.common`).

Every loader returns samples as dicts of numpy arrays with the structure documented in
:mod:`pixelnet.synth.scenes`; :func:`pixelnet.data.build_dataset` builds any of them by name.

May import: the core modules of ``pixelnet`` (``image``, ``tasks``, ...), never ``synth``,
``teachers``, ``distill``, ``data`` or ``engine``.
"""

from pixelnet.datasets.bsds import BSDS500, HEDBSDS, consensus_edges, read_bsds_boundaries
from pixelnet.datasets.common import IGNORE_INDEX, DatasetError, read_label_png, read_rgb
from pixelnet.datasets.middlebury import (
    MOTORCYCLE_CALIBRATION,
    MiddleburyMotorcycle,
    StereoCalibration,
    depth_discontinuities,
    disparity_to_depth,
    disparity_to_normals,
)
from pixelnet.datasets.middlebury_aloe import MiddleburyAloe, aloe_half_resolution
from pixelnet.datasets.nyuv2 import NYU13_CLASSES, NYUv2Normals
from pixelnet.datasets.pascal import PASCAL_CONTEXT_CLASSES, VOC2012, VOC_CLASSES, PascalContext, check_label_values
from pixelnet.datasets.sbd import SBD, VOCAug, read_sbd_label

__all__ = [
    "BSDS500", "HEDBSDS", "IGNORE_INDEX", "MOTORCYCLE_CALIBRATION", "NYU13_CLASSES", "PASCAL_CONTEXT_CLASSES",
    "SBD", "VOC2012", "VOC_CLASSES", "DatasetError", "MiddleburyAloe", "MiddleburyMotorcycle", "NYUv2Normals",
    "PascalContext", "StereoCalibration", "VOCAug", "aloe_half_resolution", "check_label_values",
    "consensus_edges", "depth_discontinuities", "disparity_to_depth", "disparity_to_normals",
    "read_bsds_boundaries", "read_label_png", "read_rgb", "read_sbd_label",
]
