"""The explorer's computations, without any UI: per-image sessions cached server-side,
dense predictions for all tasks, the pixel inspector, tap maps and sampler overlays.

``demo/app.py`` wires these to Gradio components; tests and ``bench/bench_demo.py`` call
them directly. One :class:`pixelnet.predictor.Predictor` per (image, model choice)
holds that image's feature cache, so the inspector never recomputes the backbone, and
models that share a backbone share its single pass. All model work runs on one dedicated
thread (:meth:`Explorer.run`): torch's cores are already busy inside one call, and intra-op
threads started from many web-server threads fight each other (measured: a 512x512 predict
takes 1.7x longer from a second thread once another thread has run torch).

When the edges choice is a reference model (HED), the session's predictor holds only the
PixelNet models and the edges come from a :class:`demo.hed_edges.HEDEdges` of the same working
image, cached per image (not per model choice), so changing another task's model or clicking
never runs HED again. Likewise a seg choice of the raw dense ImageNet teacher is a
:class:`demo.teacher_seg.TeacherSeg` of the working image. A seg choice of a *where* model (issue #25)
is a PixelNet in the predictor whose output is named by a :class:`demo.where_seg.WhereSeg`: categories
and ``person`` from the backbone's ImageNet classifier on the same cached ``head`` tap.
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from pixelnet.attribution import BASELINE, tap_baselines, tap_contribution_maps, tap_shapley
from pixelnet.model import PixelNet
from pixelnet.predictor import Predictor
from pixelnet.tasks import TASKS
from pixelnet.teachers import DenseImageNet, ImageNetClassifier
from pixelnet.visualize import normal_angles

from .hed_edges import HEDEdges
from .models import FALLBACK_BACKBONE, ModelBank
from .teacher_seg import TeacherSeg
from .uploads import MIN_SIDE, image_digest, read_upload, single_thread
from .where_seg import WhereSeg, is_where

__all__ = ["MIN_SIDE", "MULTI_SCALES", "Explorer", "Session", "image_digest", "read_upload", "single_thread"]

T = TypeVar("T")
MULTI_SCALES = (0.5, 1.0, 1.5)


@dataclass
class Session:
    """One image under one choice of models.

    Attributes:
        predictor: holds the (resized) image, its cached features and the PixelNet models.
        original_size: ``(H, W)`` of the image before resizing.
        reference_edges: HED on the same image when it is the edges choice (then the predictor has
            no edges model), else None.
        reference_seg: the raw dense ImageNet teacher on the same image when it is the seg choice (then
            the predictor has no seg model), else None.
        imagenet: the ImageNet classifier of the models' shared pretrained ``efficientnet_lite0``
            (for the classes the backbone sees at a pixel), or None.
        where_seg: when the seg model is a *where* model, what names its objects (then ``seg`` outputs are
            its categories and ``person``), else None.
    """

    predictor: Predictor
    original_size: tuple[int, int]
    reference_edges: HEDEdges | None = None
    imagenet: ImageNetClassifier | None = None
    reference_seg: TeacherSeg | None = None
    where_seg: WhereSeg | None = None
    _outputs: dict[tuple[Any, ...], dict[str, np.ndarray]] = field(default_factory=dict)
    _maps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    _baselines: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    _thumbs: dict[str, np.ndarray] | None = None

    @property
    def image(self) -> np.ndarray:
        """The working ``(H', W', 3)`` uint8 image all outputs and clicks refer to."""
        assert self.predictor.image is not None
        return self.predictor.image

    @property
    def scale(self) -> float:
        """Working size / original size."""
        return self.predictor.image_scale

    @property
    def models(self) -> dict[str, PixelNet]:
        """The PixelNet models (task -> model); reference models (HED, the raw teacher) are not among them."""
        return self.predictor.models

    def seg_class_names(self) -> list[str] | None:
        """The class names of the segmentation shown (a PixelNet's, the raw teacher's, or a *where* model's
        categories and ``person``), or None without one."""
        if self.reference_seg is not None:
            return self.reference_seg.class_names
        if self.where_seg is not None:
            return self.where_seg.class_names
        if "seg" in self.models:
            return list(self.models["seg"].config.class_names or [])
        return None

    def all_taps(self) -> list[str]:
        """Union of the tap names of every model (shallow to deep by stride)."""
        seen: dict[str, int] = {}
        for m in self.models.values():
            for t in m.taps:
                seen.setdefault(t.name, t.stride)
        return sorted(seen, key=lambda n: (seen[n], list(seen).index(n)))

    def to_working(self, x: float, y: float) -> tuple[int, int]:
        """Original-image pixel ``(x, y)`` -> working pixel ``(xw, yw)`` (clamped)."""
        h, w = self.image.shape[:2]
        return (min(w - 1, max(0, int(x * self.scale))), min(h - 1, max(0, int(y * self.scale))))

    def to_original(self, xw: int, yw: int) -> tuple[int, int]:
        """Working pixel -> the original pixel at its centre."""
        h, w = self.original_size
        return (min(w - 1, int((xw + 0.5) / self.scale)), min(h - 1, int((yw + 0.5) / self.scale)))

    def predict(self, *, multiscale: bool = False, ablate: Iterable[str] = ()) -> dict[str, np.ndarray]:
        """Dense outputs of every task (cached per setting): ``seg`` ``(K, H, W)``
        probabilities (the raw teacher's categories when it is the seg choice, a *where* model's categories
        and ``person``), ``normals`` ``(H, W, 3)``, ``edges`` ``(H, W)`` (HED's fused map when it is the edges
        choice); ablating taps does not change a reference model's output, nor a *where* model's categories."""
        scales = MULTI_SCALES if multiscale else (1.0,)
        key = (scales, tuple(sorted(ablate)))
        if key not in self._outputs:
            out = self.predictor.predict(scales=scales, ablate=key[1])
            if self.reference_edges is not None:
                out["edges"] = self.reference_edges.edges(scales)
            if self.reference_seg is not None:
                out["seg"] = self.reference_seg.seg(scales)
            if self.where_seg is not None and "seg" in out:
                out["seg"] = self.where_seg.seg(out["seg"], scales)
            self._outputs[key] = out
        return self._outputs[key]

    def contribution_maps(self, task: str) -> dict[str, np.ndarray]:
        """Image-wide per-tap contribution magnitude of ``task`` at working size."""
        if task not in self._maps:
            model = self.models[task]
            self._maps[task] = tap_contribution_maps(
                model, self.predictor.features(task), self.image.shape[:2]
            )
        return self._maps[task]

    def activation_maps(self) -> dict[str, np.ndarray]:
        """Per tap, the L2 norm over channels of its features at its own resolution."""
        if self._thumbs is None:
            out: dict[str, np.ndarray] = {}
            for task, model in self.models.items():
                feats = self.predictor.features(task)
                for t in model.taps:
                    if t.name not in out:
                        out[t.name] = feats[t.name][0].norm(dim=0).float().cpu().numpy()
            self._thumbs = out
        return self._thumbs

    def inspect(self, xw: int, yw: int, *, taps_on: Sequence[str] | None = None) -> dict[str, Any]:
        """Everything the inspector shows for working pixel ``(xw, yw)``, JSON-able.

        Returns:
            ``x``/``y`` (original pixels), ``working_x``/``working_y``, ``scale``, ``rgb``,
            and per task under ``tasks``: ``prediction`` (seg: ``classes``, ``probs``,
            ``top``; normals: ``normal``, ``slant``, ``tilt``; edges: ``prob``), and the
            exact Shapley contributions of the taps (``taps``, ``contributions`` with one
            row per tap, summing to ``prediction_vector - baseline_prediction``, and the
            ``baseline`` definition). With HED for edges, ``tasks["edges"]`` is
            :meth:`HEDEdges.inspect` instead (``kind`` ``"reference"``: side outputs ``dsn1..dsn5``
            and their exact terms of the fused logit); with the raw teacher for seg, ``tasks["seg"]``
            is :meth:`TeacherSeg.inspect` (``kind`` ``"reference"``: its categories at the pixel, no
            taps) and ``imagenet`` its own top 5; with a *where* model, ``tasks["seg"]`` has ``kind``
            ``"where"``, its ``prediction`` the categories and ``person`` at the pixel and ``where`` the *where*
            model's own prediction, which its contributions explain (:meth:`WhereSeg.inspect`).
        """
        h, w = self.image.shape[:2]
        if not (0 <= xw < w and 0 <= yw < h):
            raise ValueError(f"pixel ({xw}, {yw}) is outside the {w}x{h} image")
        x, y = self.to_original(xw, yw)
        out: dict[str, Any] = {
            "x": x,
            "y": y,
            "working_x": xw,
            "working_y": yw,
            "scale": self.scale,
            "rgb": [int(v) for v in self.image[yw, xw]],
            "baseline": BASELINE,
            "tasks": {},
        }
        with single_thread():
            tasks = {task: self._inspect_task(task, model, xw, yw, taps_on) for task, model in self.models.items()}
            if self.where_seg is not None and "seg" in tasks:
                ablate = [] if taps_on is None else [t for t in self.all_taps() if t not in set(taps_on)]
                tasks["seg"] = self.where_seg.inspect(tasks["seg"], self.predict(ablate=ablate)["seg"], xw, yw)
            if self.reference_seg is not None:
                tasks["seg"] = self.reference_seg.inspect(xw, yw)
                imagenet = self.reference_seg.imagenet_top(xw, yw)  # the teacher is that classifier
            else:
                imagenet = self.imagenet_top(xw, yw)
        if imagenet is not None:
            out["imagenet"] = imagenet
        if self.reference_edges is not None:
            tasks["edges"] = self.reference_edges.inspect(xw, yw)
        out["tasks"] = {t: tasks[t] for t in TASKS if t in tasks}
        return out

    def imagenet_top(self, xw: int, yw: int, k: int = 5) -> list[dict[str, Any]] | None:
        """The ``k`` most probable ImageNet classes at working pixel ``(xw, yw)``: the backbone's own
        classifier on its ``head`` tap interpolated there (``index``, ``wnid``, ``name``,
        ``category``, ``prob``); None when no model runs on the pretrained ``efficientnet_lite0``."""
        if self.imagenet is None:
            return None
        task = next((t for t, m in self.models.items() if getattr(m, "backbone_weights", "") == "pretrained"
                     and m.config.backbone == "efficientnet_lite0"), None)
        if task is None:
            return None
        head = self.predictor.features(task, taps=[self.imagenet.tap.name])[self.imagenet.tap.name]
        return [asdict(c) for c in self.imagenet.topk(self.imagenet.logits_at(head, yw, xw), k)]

    def _inspect_task(
        self, task: str, model: PixelNet, xw: int, yw: int, taps_on: Sequence[str] | None
    ) -> dict[str, Any]:
        names = [t.name for t in model.taps]
        players = names if taps_on is None else [n for n in names if n in set(taps_on)]
        feats = self.predictor.features(task)
        if task not in self._baselines:
            self._baselines[task] = tap_baselines(feats)
        att = tap_shapley(model, feats, (0, yw, xw), players=players, baselines=self._baselines[task])
        d = att.to_dict()
        d["prediction_vector"] = d.pop("prediction")  # what the contributions explain
        pred = att.prediction
        if task == "seg":
            classes = list(model.config.class_names or [])
            probs = [float(p) for p in pred]
            top = int(np.argmax(probs))
            d["prediction"] = {"classes": classes, "probs": probs, "top": classes[top], "top_index": top}
        elif task == "normals":
            n = [float(v) for v in pred]
            d["prediction"] = {"normal": n, **normal_angles(n)}
        else:
            d["prediction"] = {"prob": float(pred[0])}
        partial = len(players) < len(names)
        d["note"] = "taps switched off stay at their baseline and are not players" if partial else ""
        # the contributions explain the plain pass; a model's recorded augmentation averages more passes into its map
        d["tta"] = bool(model.config.tta_scales or model.config.tta_mirror)
        return d


class Explorer:
    """Sessions for uploaded images, cached (LRU) by image content and model choice.

    Args:
        bank: the model choices and loaded models.
        max_side: longer side of the working image (larger uploads are resized).
        cache_size: how many sessions (image x model choice) to keep.
        device: where to run (``"auto"``, ``"cpu"``...).
    """

    def __init__(
        self,
        bank: ModelBank,
        *,
        max_side: int = 1024,
        cache_size: int = 6,
        device: str | torch.device = "cpu",
    ) -> None:
        self.bank = bank
        self.max_side = max_side
        self.cache_size = cache_size
        self.device = device
        self.lock = threading.RLock()
        self._model_thread = threading.local()
        self._worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="pixelnet-models",
            initializer=self._init_worker, initargs=(torch.get_num_threads(),))
        self._sessions: OrderedDict[tuple[str, tuple[str, ...]], Session] = OrderedDict()
        # (image, task, label) -> HED or the raw teacher on that image, at most cache_size per task
        self._references: OrderedDict[tuple[str, str, str], HEDEdges | TeacherSeg] = OrderedDict()
        self.ground_truth: dict[str, Path] = {}  # image digest -> SynthScenes .npz

    def _init_worker(self, threads: int) -> None:
        self._model_thread.active = True
        torch.set_num_threads(threads)  # torch's thread count is per calling thread

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the explorer's model thread and return its result
        (its exceptions propagate; context variables such as Gradio's request go along).
        Calls from the model thread itself run directly."""
        if getattr(self._model_thread, "active", False):
            return fn(*args, **kwargs)
        ctx = contextvars.copy_context()
        return self._worker.submit(ctx.run, fn, *args, **kwargs).result()

    def session(self, image: np.ndarray, choice: Mapping[str, str] | None = None, *,
                models: Mapping[str, PixelNet] | None = None) -> Session:
        """The session of ``image`` (``(H, W, 3)`` uint8) under model ``choice`` (task -> label).

        Args:
            models: task -> model used instead of the bank's for that task (e.g. a head taught in
                this browser session); ``choice`` should still name it, with a unique label.

        Call with :attr:`lock` held when using the result from several threads.
        """
        models = dict(models or {})
        has_gt = image_digest(image) in self.ground_truth
        labels = tuple(self.bank.resolve(t, (choice or {}).get(t) or None, has_ground_truth=has_gt)
                       for t in self.bank.choices)
        key = (image_digest(image), labels + tuple(f"{t}={id(m)}" for t, m in sorted(models.items())))
        with self.lock:
            s = self._sessions.get(key)
            if s is not None:
                self._sessions.move_to_end(key)
                return s
            picked = dict(zip(self.bank.choices, labels))
            reference = {t: lab for t, lab in picked.items() if t not in models and self.bank.is_reference(t, lab)}
            if set(reference) - {"edges", "seg"}:
                raise ValueError(f"reference models replace the edges or seg model only, not {sorted(reference)}")
            chosen = {t: models.get(t) or self.bank.get(t, lab) for t, lab in picked.items() if t not in reference}
            pred = Predictor(chosen, device=self.device, max_side=self.max_side)
            pred.set_image(image)
            views = {t: self._reference(t, pred.image, lab) for t, lab in reference.items()}
            edges, seg = views.get("edges"), views.get("seg")
            assert edges is None or isinstance(edges, HEDEdges)
            assert seg is None or isinstance(seg, TeacherSeg)
            imagenet = self.bank.imagenet()
            where = None
            if is_where(chosen.get("seg")):  # the bank's classifier when the backbone is its efficientnet_lite0
                shared = imagenet is not None and chosen["seg"].config.backbone == FALLBACK_BACKBONE
                where = WhereSeg(pred, imagenet if shared else None)
            s = Session(predictor=pred, original_size=(int(image.shape[0]), int(image.shape[1])),
                        reference_edges=edges, imagenet=imagenet, reference_seg=seg, where_seg=where)
            self._sessions[key] = s
            while len(self._sessions) > self.cache_size:
                self._sessions.popitem(last=False)
            return s

    def _reference(self, task: str, working: np.ndarray, label: str) -> HEDEdges | TeacherSeg:
        """Reference model choice ``label`` of ``task`` (HED, the raw teacher) on working image ``working``,
        cached per image across sessions."""
        key = (image_digest(working), task, label)
        hit = self._references.pop(key, None)
        if hit is None:
            model = self.bank.reference(task, label)
            if isinstance(model, DenseImageNet):
                hit = TeacherSeg(model, working, label=label, device=self.device)
            else:
                hit = HEDEdges(model, working, label=label, device=self.device)
        self._references[key] = hit  # most recently used last
        same = [k for k in self._references if k[1] == task]
        for old in same[: max(0, len(same) - max(1, self.cache_size))]:
            del self._references[old]
        return hit

    def ground_truth_of(self, image: np.ndarray) -> dict[str, Any] | None:
        """SynthScenes ground truth of an example image (matched by content), if known.

        Returns:
            ``seg`` int64 ``(H, W)``, ``classes`` (names), ``normals`` float32 unit
            ``(H, W, 3)``, ``edges`` uint8 ``(H, W)`` (1 = boundary), as far as present.
        """
        path = self.ground_truth.get(image_digest(image))
        if path is None:
            return None
        with np.load(path) as z:
            gt: dict[str, Any] = {k: z[k] for k in z.files}
        if "seg" in gt:
            gt["seg"] = gt["seg"].astype(np.int64)
        if "classes" in gt:
            gt["classes"] = [str(c) for c in gt["classes"]]
        if "normals" in gt and gt["normals"].dtype == np.uint8:  # stored as (n + 1) * 127.5
            n = gt["normals"].astype(np.float32) / 127.5 - 1
            gt["normals"] = n / np.maximum(np.linalg.norm(n, axis=2, keepdims=True), 1e-6)
        return gt
