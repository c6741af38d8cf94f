"""Reusable training and evaluation machinery behind ``train/run.py`` and ``train/eval.py``.

One concept per module: :mod:`~pixelnet.engine.trainer` (one SGD step and the optimiser),
:mod:`~pixelnet.engine.fit` (the loop: logs, validation, checkpoints, clean stops),
:mod:`~pixelnet.engine.checkpoint` (atomic, weights-only, RNG states),
:mod:`~pixelnet.engine.order` (resumable rank-aware data order),
:mod:`~pixelnet.engine.augment` and :mod:`~pixelnet.engine.batching` (samples to batches),
:mod:`~pixelnet.engine.distributed` (torchrun/DDP), :mod:`~pixelnet.engine.evaluate`
(benchmark metrics through the predictor), :mod:`~pixelnet.engine.progress` (CSV,
TensorBoard, console), :mod:`~pixelnet.engine.config` (YAML defaults),
:mod:`~pixelnet.engine.scribbles` (a head from a user's strokes),
:mod:`~pixelnet.engine.geometry_eval` (baselines and boundary recall on real geometry),
:mod:`~pixelnet.engine.prior` (the class-prior correction of a stratified seg head),
:mod:`~pixelnet.engine.datasets` and :mod:`~pixelnet.engine.cli` (one-line errors).
"""

from .augment import Augment
from .batching import TrainSamples, collate, gather_targets, step_loader
from .checkpoint import CheckpointError, atomic_save, capture_rng_state, load_checkpoint, restore_rng_state
from .cli import HelpFormatter, UsageError, run_cli
from .config import ConfigError, apply_yaml_defaults, parse_args, write_resolved_config
from .distributed import DistContext, init_distributed, shard
from .evaluate import METRIC_KEYS, evaluate, format_metrics, predict_full_size
from .fit import FitResult, TrainingStopped, fit
from .geometry_eval import GEOMETRY_DATASETS, BoundaryRecallMeter, normals_baselines
from .order import DataOrder, StepBatches, derive_seed
from .prior import add_output_bias, class_frequencies, prior_shift
from .scribbles import ScribbleError, ScribbleResult, fit_scribbles, predict_seg
from .trainer import NonFiniteLossError, OptimConfig, Trainer

__all__ = [
    "GEOMETRY_DATASETS", "METRIC_KEYS", "add_output_bias", "apply_yaml_defaults", "atomic_save", "Augment",
    "BoundaryRecallMeter", "capture_rng_state", "CheckpointError", "class_frequencies",
    "collate", "ConfigError", "DataOrder", "derive_seed", "DistContext", "evaluate", "fit", "fit_scribbles",
    "FitResult", "format_metrics", "gather_targets", "HelpFormatter", "init_distributed", "load_checkpoint",
    "NonFiniteLossError", "normals_baselines", "OptimConfig", "parse_args", "predict_full_size", "predict_seg",
    "prior_shift",
    "restore_rng_state", "run_cli", "ScribbleError", "ScribbleResult", "shard", "step_loader", "StepBatches",
    "Trainer", "TrainingStopped", "TrainSamples", "UsageError", "write_resolved_config",
]
