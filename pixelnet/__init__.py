"""PixelNet (Bansal et al. 2017): pixel predictions from sampled hypercolumns and an MLP."""

from .backbones import BACKBONES, Backbone, build_backbone
from .heads import HEADS, LinearHead, MLPHead, build_head
from .hypercolumn import sample_hypercolumns, sample_tap
from .model import ModelConfig, PixelNet, build_model
from .taps import TapInfo, parse_taps
from .tasks import TASKS, activate, task_outputs

__all__ = [
    "BACKBONES", "Backbone", "HEADS", "LinearHead", "MLPHead", "ModelConfig", "PixelNet", "TASKS",
    "TapInfo", "activate", "build_backbone", "build_head", "build_model", "parse_taps",
    "sample_hypercolumns", "sample_tap", "task_outputs",
]
