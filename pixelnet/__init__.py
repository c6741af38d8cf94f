"""PixelNet (Bansal et al. 2017): pixel predictions from sampled hypercolumns and an MLP.

Public API, by part of the method:

- backbones with described taps: :func:`build_backbone`, :data:`BACKBONES`, :class:`TapInfo`
- hypercolumns: :func:`sample_hypercolumns` (sampled path); dense path in :mod:`pixelnet.dense`
- heads and models: :func:`build_head`, :class:`ModelConfig`, :func:`build_model`, :class:`PixelNet`
- model files: :func:`save_model`, :func:`load_model`, :func:`load_models`
- inference: :class:`Predictor`; attribution in :mod:`pixelnet.attribution`
- teachers with published weights (HED, the dense ImageNet categories): :func:`load_reference`
  (:mod:`pixelnet.teachers`)
- what the hypercolumn encodes, without labels: :class:`DenseHypercolumns`, :func:`similarity_maps`,
  :func:`fit_pca`, :func:`pca_rgb`, :func:`fit_kmeans`, :func:`kmeans_labels` (:mod:`pixelnet.features`)
- data and sampling: :mod:`pixelnet.data` (every dataset by name) over :mod:`pixelnet.datasets`,
  :mod:`pixelnet.synth` and :mod:`pixelnet.distill`; :mod:`pixelnet.samplers`
- training and evaluation: :mod:`pixelnet.losses`, :mod:`pixelnet.metrics`, :mod:`pixelnet.engine`,
  :mod:`pixelnet.evaluation`; Teach in :mod:`pixelnet.teach`

The layout and the directions imports may take: ``docs/architecture.md``.
"""

from pixelnet.teachers import REFERENCE_MODELS, load_reference

from .backbones import BACKBONES, Backbone, build_backbone
from .data import SYNTH_CLASSES, SynthScenes, build_dataset, render_scene
from .features import (
    DenseHypercolumns,
    feature_spaces,
    fit_kmeans,
    fit_pca,
    kmeans_labels,
    pca_rgb,
    segment_profile,
    similarity_maps,
    top_matches,
)
from .heads import HEADS, LinearHead, MLPHead, build_head
from .hypercolumn import sample_hypercolumns, sample_tap
from .io import ModelFileError, load_model, load_models, save_model
from .losses import build_loss
from .metrics import build_meter
from .model import ModelConfig, PixelNet, build_model
from .predictor import Predictor
from .samplers import SAMPLERS, sample_pixels
from .taps import TapInfo, parse_taps
from .tasks import TASKS, activate, task_outputs

__all__ = [
    "BACKBONES", "Backbone", "DenseHypercolumns", "HEADS", "LinearHead", "MLPHead", "ModelConfig",
    "ModelFileError", "PixelNet", "Predictor", "REFERENCE_MODELS", "SAMPLERS", "SYNTH_CLASSES", "SynthScenes",
    "TASKS", "TapInfo", "activate", "build_backbone", "build_dataset", "build_head", "build_loss",
    "build_meter", "build_model", "feature_spaces", "fit_kmeans", "fit_pca", "kmeans_labels", "load_model",
    "load_models", "load_reference", "parse_taps", "pca_rgb", "render_scene", "sample_hypercolumns",
    "sample_pixels", "sample_tap", "save_model", "segment_profile", "similarity_maps", "task_outputs",
    "top_matches",
]
