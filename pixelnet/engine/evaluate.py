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

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..metrics import build_meter
from ..model import PixelNet
from ..predictor import Predictor
from ..reference import HED, HEDPredictor

__all__ = ["METRIC_KEYS", "evaluate", "format_metrics", "predict_full_size"]

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


def evaluate(model: PixelNet | HED, dataset: Any, *, scales: Sequence[float] = (1.0,), limit: int | None = None,
             device: str | torch.device = "auto", max_side: int = 1024,
             progress: Callable[[int, int], None] | None = None,
             meter_kwargs: dict[str, Any] | None = None) -> dict[str, float]:
    """Run ``model`` over the first ``limit`` samples of ``dataset`` and compute its metrics.

    Args:
        model: a task model (put in eval mode; call ``train()`` afterwards if training), or a
            reference model of :mod:`pixelnet.reference` (``load_reference("hed")``, edges).
        dataset: map-style dataset of sample dicts (``image`` and the task's ground truth:
            ``seg`` int64 ``(H, W)``; ``normals`` float32 ``(H, W, 3)`` + ``valid`` bool
            ``(H, W)``; ``edges_gt`` bool ``(A, H, W)``).
        scales: test scales averaged by the predictor.
        limit: number of samples (None: all).
        device: where to run.
        max_side: the predictor's size limit (predictions are resized back to the image).
        progress: called with ``(done, total)`` after each image.
        meter_kwargs: extra options of the meter (e.g. ``thresholds`` for edges).

    Returns:
        The metrics of :data:`METRIC_KEYS` for the task, as floats.
    """
    task = model.task
    kwargs = dict(meter_kwargs or {})
    if task == "seg":
        kwargs.setdefault("num_classes", model.config.num_outputs)
    meter = build_meter(task, **kwargs)
    if isinstance(model, PixelNet):
        predictor = Predictor(model, device=device, max_side=max_side)
    else:  # a reference model brings its own predictor, with the same predict()
        predictor = model.predictor(device=device, max_side=max_side)
    total = len(dataset) if limit is None else min(limit, len(dataset))
    for i in range(total):
        sample = dataset[i]
        pred = predict_full_size(predictor, task, np.asarray(sample["image"]), scales)
        if task == "seg":
            target = torch.from_numpy(np.asarray(sample["seg"], np.int64))
            meter.update(torch.from_numpy(pred.argmax(0)), target)
        elif task == "normals":
            meter.update(torch.from_numpy(pred).permute(2, 0, 1),
                         torch.from_numpy(np.asarray(sample["normals"], np.float32)).permute(2, 0, 1),
                         torch.from_numpy(np.asarray(sample["valid"], bool)))
        else:
            meter.update(pred, np.asarray(sample["edges_gt"], bool))
        if progress is not None:
            progress(i + 1, total)
    result = meter.compute()
    return {k: float(result[k]) for k in METRIC_KEYS[task]}


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
