"""Evaluate a model on a dataset exactly as users run it: through the :class:`Predictor`
(dense path, optional multi-scale averaging), then the task's benchmark metric.

Used by ``train/eval.py``, by periodic validation in ``train/run.py``, and reusable from
benchmarks and the demo. Metrics (see :mod:`pixelnet.metrics`):

- ``seg``: ``pixel_acc``, ``mean_acc``, ``miou`` (fractions; dataset-level confusion matrix);
- ``normals``: ``mean``, ``median``, ``rmse`` (degrees), ``within_11_25``, ``within_22_5``,
  ``within_30`` (percent), pooled over all valid pixels;
- ``edges``: ``ods``, ``ois``, ``ap`` (BSDS protocol, all annotators).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pixelnet.metrics import build_meter
from pixelnet.model import PixelNet
from pixelnet.predictor import Predictor
from pixelnet.progress import Progress, format_duration
from pixelnet.teachers import HED, HEDPredictor

__all__ = ["METRIC_KEYS", "choose_val_size", "evaluate", "format_metrics", "model_predictor", "predict_full_size"]

METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "seg": ("pixel_acc", "mean_acc", "miou"),
    "normals": ("mean", "median", "rmse", "within_11_25", "within_22_5", "within_30"),
    "edges": ("ods", "ois", "ap"),
}
"""The metrics reported per task (and the exact keys of ``train/eval.py --json``)."""


def predict_full_size(predictor: Predictor | HEDPredictor, task: str, image: np.ndarray,
                      scales: Sequence[float] = (1.0,)) -> np.ndarray:
    """Predict ``task`` on ``image`` ``(H, W, 3)`` uint8, at the image's own size even when the
    predictor downsized it (``max_side``); same layouts as :meth:`Predictor.predict`."""
    out = predictor.predict(image, scales=scales, tasks=[task])[task]
    h, w = image.shape[:2]
    spatial = out.shape[:2] if task == "normals" else out.shape[-2:]  # (H, W, 3) vs (K, H, W) / (H, W)
    if tuple(spatial) == (h, w):
        return out
    t = torch.from_numpy(out)
    t = t.permute(2, 0, 1)[None] if task == "normals" else (t[None] if task == "seg" else t[None, None])
    t = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
    if task == "normals":
        return F.normalize(t, dim=1, eps=1e-6)[0].permute(1, 2, 0).numpy()
    return t[0].numpy() if task == "seg" else t[0, 0].numpy()


def model_predictor(model: Any, *, device: str | torch.device = "auto", max_side: int = 1024,
                    tta: bool = True) -> Any:
    """The predictor of any model :func:`evaluate` runs: a :class:`Predictor` for a PixelNet model,
    else the model's own (a reference model's, an object model's), with the same ``predict()``.

    Args:
        tta: apply the test-time augmentation the model records (``ModelConfig.tta_scales``,
            ``tta_mirror``: PixelNet and object models; reference models have none).
    """
    if isinstance(model, PixelNet):
        return Predictor(model, device=device, max_side=max_side, tta=tta)
    if hasattr(model, "where"):  # an object model: its where model may record test-time augmentation
        return model.predictor(device=device, max_side=max_side, tta=tta)
    return model.predictor(device=device, max_side=max_side)


def evaluate(model: PixelNet | HED, dataset: Any, *, scales: Sequence[float] = (1.0,), limit: int | None = None,
             device: str | torch.device = "auto", max_side: int = 1024,
             progress: Progress | Callable[[int, int], None] | None = None,
             meter_kwargs: dict[str, Any] | None = None, budget_s: float | None = None,
             on_prediction: Callable[[dict[str, Any], np.ndarray], None] | None = None,
             meter: Any | None = None, class_map: np.ndarray | None = None, tta: bool = True) -> dict[str, float]:
    """Run ``model`` over the first ``limit`` samples of ``dataset`` and compute its metrics.

    Args:
        model: a task model (put in eval mode; call ``train()`` afterwards if training), or a
            reference model of :mod:`pixelnet.teachers` (``load_reference("hed")``, edges).
        dataset: map-style dataset of sample dicts (``image`` and the task's ground truth:
            ``seg`` int64 ``(H, W)``; ``normals`` float32 ``(H, W, 3)`` + ``valid`` bool
            ``(H, W)``; ``edges_gt`` bool ``(A, H, W)``).
        scales: test scales averaged by the predictor.
        limit: number of samples (None: all).
        device: where to run.
        max_side: the predictor's size limit (predictions are resized back to the image).
        progress: a :class:`~pixelnet.progress.Progress` (its total is set here; each image
            adds one, with the seconds spent predicting and scoring, the BSDS matching for
            edges), or a function called with ``(done, total)`` after each image.
        meter_kwargs: extra options of the meter (e.g. ``thresholds`` for edges).
        budget_s: choose the number of images after the first one: as many as fit in about
            ``budget_s`` seconds at its pace (at least 1, at most ``limit``); the number used is
            the final ``total`` reported to ``progress``.
        on_prediction: called with ``(sample, prediction)`` for every image (the prediction at
            the image's size, in :func:`predict_full_size`'s layout), e.g. for extra metrics.
        meter: the task's meter to accumulate into (default: a new one from ``meter_kwargs``);
            pass one to read more than the returned keys afterwards, e.g. per-class IoU.
        class_map: seg only: int ``[K_model]``, the dataset class of each model class, for a model
            whose classes are not the dataset's (e.g. ImageNet categories scored on the composites'
            classes); the meter then counts the dataset's classes.
        tta: apply the test-time augmentation a model records (:func:`model_predictor`).

    Returns:
        The metrics of :data:`METRIC_KEYS` for the task, as floats.
    """
    task = model.task
    kwargs = dict(meter_kwargs or {})
    if task == "seg":
        kwargs.setdefault("num_classes", model.config.num_outputs if class_map is None else int(class_map.max()) + 1)
    if meter is None:
        meter = build_meter(task, **kwargs)
    predictor = model_predictor(model, device=device, max_side=max_side, tta=tta)
    total = len(dataset) if limit is None else min(limit, len(dataset))
    if isinstance(progress, Progress):
        progress.set_total(total)
    t_start = time.perf_counter()
    i = 0
    while i < total:
        sample = dataset[i]
        t0 = time.perf_counter()
        pred = predict_full_size(predictor, task, np.asarray(sample["image"]), scales)
        t1 = time.perf_counter()
        if on_prediction is not None:
            on_prediction(sample, pred)
        if task == "seg":
            target = torch.from_numpy(np.asarray(sample["seg"], np.int64))
            label = pred.argmax(0) if class_map is None else class_map[pred.argmax(0)]
            meter.update(torch.from_numpy(label), target)
        elif task == "normals":
            meter.update(torch.from_numpy(pred).permute(2, 0, 1),
                         torch.from_numpy(np.asarray(sample["normals"], np.float32)).permute(2, 0, 1),
                         torch.from_numpy(np.asarray(sample["valid"], bool)))
        else:
            meter.update(pred, np.asarray(sample["edges_gt"], bool))
        i += 1
        if i == 1 and budget_s is not None:
            total = max(1, min(total, int(budget_s // max(time.perf_counter() - t_start, 1e-9))))
            if isinstance(progress, Progress):
                progress.set_total(total)
        if isinstance(progress, Progress):
            score = "matching" if task == "edges" else "scoring"
            progress.update(1, note=f"predict {format_duration(t1 - t0)}, {score} "
                                    f"{format_duration(time.perf_counter() - t1)} per image")
        elif progress is not None:
            progress(i, total)
    result = meter.compute()
    return {k: float(result[k]) for k in METRIC_KEYS[task]}


def choose_val_size(*, train_s: float, available: int, per_image_s: float | None = None, cpu: bool = True,
                    share: float = 0.1, cpu_cap_s: float = 60.0) -> tuple[float, int | None]:
    """The validation budget of a run without ``--val-limit``: ``share`` of the training time,
    and at most ``cpu_cap_s`` seconds on a CPU.

    Args:
        train_s: (estimated) training wall time of the run.
        available: images in the validation set.
        per_image_s: seconds per validation image when known (then the count is returned too).
        cpu: the run is on a CPU (the cap applies).
        share: fraction of the training time.
        cpu_cap_s: the CPU cap.

    Returns:
        ``(budget_s, images)``; ``images`` is None without ``per_image_s``, else in ``[1, available]``.
    """
    budget = share * max(train_s, 0.0)
    if cpu:
        budget = min(budget, cpu_cap_s)
    if per_image_s is None:
        return budget, None
    return budget, max(1, min(available, int(budget // max(per_image_s, 1e-9))))


def format_metrics(task: str, metrics: dict[str, float], *, title: str = "") -> str:
    """A small text table of :func:`evaluate`'s result (seg in percent, normals in degrees/percent)."""
    rows = []
    for k in METRIC_KEYS[task]:
        v = metrics[k]
        if task == "seg":
            rows.append((k, f"{100 * v:.2f} %"))
        elif task == "normals":
            rows.append((k, f"{v:.2f} " + ("deg" if k in ("mean", "median", "rmse") else "%")))
        else:
            rows.append((k, f"{v:.4f}"))
    width = max(len(k) for k, _ in rows)
    lines = [title] if title else []
    lines += [f"  {k:<{width}}  {v:>12}" for k, v in rows]
    return "\n".join(lines)
