"""Training machinery behind ``train/run.py``: one SGD step and the optimiser
(:mod:`~pixelnet.engine.trainer`), the loop with logs, validation, checkpoints and clean stops
(:mod:`~pixelnet.engine.fit`), atomic weights-only checkpoints (:mod:`~pixelnet.engine.checkpoint`),
the resumable rank-aware data order (:mod:`~pixelnet.engine.order`), samples to batches
(:mod:`~pixelnet.engine.augment`, :mod:`~pixelnet.engine.batching`), torchrun/DDP
(:mod:`~pixelnet.engine.distributed`), YAML defaults and one-line CLI errors
(:mod:`~pixelnet.engine.config`, :mod:`~pixelnet.engine.cli`), datasets by CLI name
(:mod:`~pixelnet.engine.datasets`) and the class-prior correction of a stratified seg head
(:mod:`~pixelnet.engine.prior`).

Evaluation lives in :mod:`pixelnet.evaluation` and Teach's fitting in :mod:`pixelnet.teach`; the
evaluation names are re-exported here for one release.

May import: ``pixelnet.evaluation``, ``pixelnet.data`` and everything below them; never
``pixelnet.teach`` (which trains with the engine's :class:`Trainer`).
"""

from pixelnet.evaluation.evaluate import METRIC_KEYS, evaluate, format_metrics, predict_full_size
from pixelnet.evaluation.geometry import GEOMETRY_DATASETS, BoundaryRecallMeter, normals_baselines

from .augment import Augment
from .batching import TrainSamples, collate, gather_targets, step_loader
from .checkpoint import CheckpointError, atomic_save, capture_rng_state, load_checkpoint, restore_rng_state
from .cli import HelpFormatter, UsageError, comma_floats, comma_ints, comma_names, run_cli
from .config import ConfigError, apply_yaml_defaults, parse_args, write_resolved_config
from .datasets import EVAL_SPLITS, VAL_SPLITS, dataset_class_names, open_dataset
from .distributed import DistContext, all_gather_objects, cleanup, init_distributed, shard
from .fit import CHECKPOINT_NAME, FitResult, TrainingStopped, fit
from .order import DataOrder, StepBatches, derive_seed
from .prior import add_output_bias, class_frequencies, prior_shift
from .trainer import NonFiniteLossError, OptimConfig, Trainer

__all__ = [
    "CHECKPOINT_NAME", "EVAL_SPLITS", "GEOMETRY_DATASETS", "METRIC_KEYS", "VAL_SPLITS", "Augment",
    "BoundaryRecallMeter", "CheckpointError", "ConfigError", "DataOrder", "DistContext", "FitResult",
    "HelpFormatter", "NonFiniteLossError", "OptimConfig", "StepBatches", "Trainer", "TrainSamples",
    "TrainingStopped", "UsageError", "add_output_bias", "all_gather_objects", "apply_yaml_defaults", "atomic_save",
    "capture_rng_state", "class_frequencies", "cleanup", "collate", "comma_floats", "comma_ints", "comma_names",
    "dataset_class_names", "derive_seed", "evaluate", "fit", "format_metrics", "gather_targets",
    "init_distributed", "load_checkpoint", "normals_baselines", "open_dataset", "parse_args",
    "predict_full_size", "prior_shift", "restore_rng_state", "run_cli", "shard", "step_loader",
    "write_resolved_config",
]
