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
never runs HED again.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from pixelnet.attribution import BASELINE, tap_baselines, tap_contribution_maps, tap_shapley
from pixelnet.image import ImageError, load_image, to_rgb_array
from pixelnet.imagenet import ImageNetClassifier
from pixelnet.model import PixelNet
from pixelnet.predictor import Predictor
from pixelnet.visualize import normal_angles

from .hed_edges import HEDEdges
from .models import ModelBank

__all__ = ["MIN_SIDE", "MULTI_SCALES", "Explorer", "Session", "image_digest", "read_upload", "single_thread"]

T = TypeVar("T")
MIN_SIDE = 16  # smaller images carry too few pixels for the coarsest taps
MULTI_SCALES = (0.5, 1.0, 1.5)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch single-threaded inside (callers hold the explorer lock, so no other model
    work runs meanwhile). The inspector's work is a few hundred tiny matrix products; with
    several intra-op threads each costs a thread hand-off (about 10 ms apiece on a busy
    2-core machine versus 0.25 ms on one thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def image_digest(image: np.ndarray) -> str:
    """Content hash of an ``(H, W, 3)`` uint8 image (shape included)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def read_upload(source: str | Path | bytes | np.ndarray | Mapping[str, Any] | None) -> np.ndarray:
    """Decode what the UI or API hands over into ``(H, W, 3)`` uint8 RGB.

    Args:
        source: a file path, raw bytes, an array, or Gradio's file payload (a dict with
            ``path``; the app passes it unprocessed so that decoding errors are ours).

    Raises:
        ImageError: no image, an unreadable one, or one smaller than :data:`MIN_SIDE`.
    """
    if source is None:
        raise ImageError("no image: upload one or pick an example")
    if isinstance(source, Mapping):
        path = source.get("path")
        if not path:
            raise ImageError("the upload has no file (try uploading again)")
        source = path
    if isinstance(source, np.ndarray):
        rgb = to_rgb_array(source)
    else:
        try:
            rgb = load_image(source)
        except FileNotFoundError as e:
            raise ImageError("the uploaded file is no longer available; upload it again") from e
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageError(
            f"the image is {w}x{h} pixels; the explorer needs at least {MIN_SIDE} pixels per side"
        )
    return rgb


@dataclass
class Session:
    """One image under one choice of models.

    Attributes:
        predictor: holds the (resized) image, its cached features and the PixelNet models.
        original_size: ``(H, W)`` of the image before resizing.
        reference_edges: HED on the same image when it is the edges choice (then the predictor has
            no edges model), else None.
        imagenet: the ImageNet classifier of the models' shared pretrained ``efficientnet_lite0``
            (for the classes the backbone sees at a pixel), or None.
    """

    predictor: Predictor
    original_size: tuple[int, int]
    reference_edges: HEDEdges | None = None
    imagenet: ImageNetClassifier | None = None
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
        """The PixelNet models (task -> model); a reference edges model is not among them."""
        return self.predictor.models

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
        probabilities, ``normals`` ``(H, W, 3)``, ``edges`` ``(H, W)`` (HED's fused map when it is
        the edges choice; ablating taps does not change it)."""
        scales = MULTI_SCALES if multiscale else (1.0,)
        key = (scales, tuple(sorted(ablate)))
        if key not in self._outputs:
            out = self.predictor.predict(scales=scales, ablate=key[1])
            if self.reference_edges is not None:
                out["edges"] = self.reference_edges.edges(scales)
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
            and their exact terms of the fused logit).
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
            for task, model in self.models.items():
                out["tasks"][task] = self._inspect_task(task, model, xw, yw, taps_on)
            imagenet = self.imagenet_top(xw, yw)
        if imagenet is not None:
            out["imagenet"] = imagenet
        if self.reference_edges is not None:
            out["tasks"]["edges"] = self.reference_edges.inspect(xw, yw)
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
        self._references: OrderedDict[tuple[str, str], HEDEdges] = OrderedDict()  # (image, label) -> HED
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
            if set(reference) - {"edges"}:
                raise ValueError(f"reference models replace the edges model only, not {sorted(set(reference))}")
            chosen = {t: models.get(t) or self.bank.get(t, lab) for t, lab in picked.items() if t not in reference}
            pred = Predictor(chosen, device=self.device, max_side=self.max_side)
            pred.set_image(image)
            edges = self._reference_edges(pred.image, reference["edges"]) if reference else None
            s = Session(predictor=pred, original_size=(int(image.shape[0]), int(image.shape[1])),
                        reference_edges=edges, imagenet=self.bank.imagenet())
            self._sessions[key] = s
            while len(self._sessions) > self.cache_size:
                self._sessions.popitem(last=False)
            return s

    def _reference_edges(self, working: np.ndarray, label: str) -> HEDEdges:
        """HED (choice ``label``) on working image ``working``, cached per image across sessions."""
        key = (image_digest(working), label)
        hit = self._references.pop(key, None)
        if hit is None:
            hit = HEDEdges(self.bank.reference("edges", label), working, label=label, device=self.device)
        self._references[key] = hit  # most recently used last
        while len(self._references) > max(1, self.cache_size):
            self._references.popitem(last=False)
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
