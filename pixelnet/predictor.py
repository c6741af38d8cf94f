"""Dense, multi-scale inference over one or several task models (after SAM's predictor).

The predictor owns everything around the tensor-only modules: image conversion and
resizing, normalisation, ``torch.no_grad``, device placement, feature caching
(``set_image`` once, then ``predict``/inspect many times) and multi-scale averaging.
Models that share one backbone instance (see :func:`pixelnet.io.load_models`) share
one backbone pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .device import pick_device
from .image import fit_max_side
from .model import PixelNet
from .tasks import activate

__all__ = ["Predictor"]


class Predictor:
    """Full-resolution predictions for every task model given.

    Args:
        models: one model, or task -> model.
        device: ``"auto"`` (CUDA, else MPS, else CPU) or an explicit device.
        max_side: longer image side is resized down to this before prediction
            (outputs are returned at the resized size; see :attr:`image_scale`).
        budget_mb: memory budget of one dense row chunk.
        tta: apply the test-time augmentation a model records (``ModelConfig.tta_scales``,
            ``tta_mirror``); False runs every model at the asked scales only.
    """

    def __init__(self, models: PixelNet | Mapping[str, PixelNet], *, device: str | torch.device = "auto",
                 max_side: int = 1024, budget_mb: float = 64.0, tta: bool = True) -> None:
        self.models: dict[str, PixelNet] = (
            {models.task: models} if isinstance(models, PixelNet) else dict(models))
        if not self.models:
            raise ValueError("a Predictor needs at least one model")
        self.device = pick_device(device)
        for m in self.models.values():
            m.to(self.device).eval()
        self.max_side = max_side
        self.budget_mb = budget_mb
        self.tta = tta
        self.image: np.ndarray | None = None
        self.image_scale = 1.0
        self._cache: dict[tuple[int, float, bool], dict[str, torch.Tensor]] = {}

    @property
    def tasks(self) -> list[str]:
        return list(self.models)

    def set_image(self, image: np.ndarray | Image.Image) -> np.ndarray:
        """Set the image to predict on and drop cached features.

        Args:
            image: ``(H, W, 3)`` uint8 RGB in [0, 255] (other layouts and PIL images are
                converted by :func:`pixelnet.image.to_rgb_array`).

        Returns:
            The (possibly downsized) ``(H', W', 3)`` uint8 image that predictions refer to.
        """
        rgb, scale = fit_max_side(image, self.max_side)
        self.image, self.image_scale = rgb, scale
        self._cache.clear()
        return rgb

    def _require_image(self) -> np.ndarray:
        if self.image is None:
            raise RuntimeError("call set_image() first")
        return self.image

    @property
    def min_side(self) -> int:
        """Smallest input side the models accept (their largest tap stride)."""
        return max(t.stride for m in self.models.values() for t in m.taps)

    def input_size(self, scale: float = 1.0) -> tuple[int, int]:
        """Network input size ``(h, w)`` at ``scale`` (at least :attr:`min_side` per side)."""
        h, w = self._require_image().shape[:2]
        return max(self.min_side, round(h * scale)), max(self.min_side, round(w * scale))

    def image_tensor(self, scale: float = 1.0, *, mirror: bool = False) -> torch.Tensor:
        """The current image as ``(1, 3, h, w)`` float in [0, 1], resized to :meth:`input_size`
        (and mirrored left to right when ``mirror``)."""
        img = self._require_image()
        if not (img.flags.writeable and img.flags.c_contiguous):
            img = img.copy()  # torch.from_numpy needs a writeable array
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255)
        size = self.input_size(scale)
        if size != tuple(x.shape[2:]):
            shrink = size[0] < x.shape[2] or size[1] < x.shape[3]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)
        if mirror:
            x = x.flip(-1)
        return x.to(self.device)

    @torch.no_grad()
    def features(self, task: str, scale: float = 1.0, *, taps: Sequence[str] | None = None,
                 mirror: bool = False) -> dict[str, torch.Tensor]:
        """Tap maps of the current image for ``task``'s model (cached per backbone, scale and mirror).

        Args:
            taps: names of the backbone's taps to return (default: the model's taps), e.g. to
                look at taps no head reads (:mod:`pixelnet.features`).
            mirror: the maps of the mirrored image (as computed: not mirrored back).
        """
        model = self.models[task]
        key = (id(model.backbone), float(scale), bool(mirror))
        cached = self._cache.get(key)
        names = [t.name for t in model.taps] if taps is None else list(taps)
        unknown = [n for n in names if n not in model.backbone.tap_names]
        if unknown:
            raise ValueError(f"unknown taps {unknown}; the backbone has taps {model.backbone.tap_names}")
        if cached is None or any(n not in cached for n in names):
            x = self.image_tensor(scale, mirror=mirror)
            all_names = sorted({t.name for m in self.models.values() if m.backbone is model.backbone
                                for t in m.taps} | set(names) | set(cached or ()),
                               key=model.backbone.tap_names.index)
            cached = model.backbone(model.normalize(x), all_names)
            self._cache[key] = cached
        return {n: cached[n] for n in names}

    @torch.no_grad()
    def predict(self, image: np.ndarray | Image.Image | None = None, *, scales: Sequence[float] = (1.0,),
                tasks: Iterable[str] | None = None, ablate: Iterable[str] = ()) -> dict[str, np.ndarray]:
        """Dense predictions, averaged over ``scales`` (and over each model's recorded test-time
        augmentation, :meth:`passes`) and returned at the image size.

        Args:
            image: optional new image (as in :meth:`set_image`); default: the current one.
            scales: test scales (e.g. ``(0.5, 1.0, 1.5)``); outputs are resized back and averaged.
            tasks: subset of tasks (default: all).
            ablate: tap names whose features are replaced by their image mean (tap switched off).

        Returns:
            task -> array: ``seg`` class probabilities ``(K, H, W)`` float32, ``normals``
            unit vectors ``(H, W, 3)`` float32, ``edges`` probabilities ``(H, W)`` float32.
        """
        if image is not None:
            self.set_image(image)
        h, w = self._require_image().shape[:2]
        out: dict[str, np.ndarray] = {}
        for task in (list(tasks) if tasks is not None else self.tasks):
            if task not in self.models:
                raise ValueError(f"no model for task {task!r}; have {self.tasks}")
            out[task] = self._predict_task(task, scales, set(ablate), (h, w))
        return out

    def passes(self, task: str, scales: Sequence[float] = (1.0,)) -> list[tuple[float, bool]]:
        """The ``(scale, mirrored)`` backbone passes whose outputs :meth:`predict` averages for
        ``task`` at ``scales``: each scale times the model's ``tta_scales``, and mirrored too when
        its ``tta_mirror`` (:class:`pixelnet.ModelConfig`; when this predictor applies them)."""
        config = self.models[task].config
        ratios = config.tta_scales if self.tta and config.tta_scales else [1.0]
        mirrors = (False, True) if self.tta and config.tta_mirror else (False,)
        return [(float(s) * r, m) for s in scales for r in ratios for m in mirrors]

    def _predict_task(self, task: str, scales: Sequence[float], ablate: set[str], size: tuple[int, int]) -> np.ndarray:
        model = self.models[task]
        acc: torch.Tensor | None = None
        passes = self.passes(task, scales)
        for s, mirror in passes:
            feats = dict(self.features(task, s, mirror=mirror))
            for name in ablate & set(feats):
                f = feats[name]
                feats[name] = f.mean(dim=(2, 3), keepdim=True).expand_as(f)
            y = activate(task, model.dense(feats, self.input_size(s), budget_mb=self.budget_mb))  # (1, K, h, w)
            if mirror:
                y = _unmirror(task, y)
            if tuple(y.shape[2:]) != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            acc = y if acc is None else acc + y
        assert acc is not None, "no scales given"
        y = activate("normals", acc) if task == "normals" else acc / len(passes)
        y = y[0].float().cpu()
        if task == "seg":
            return y.numpy()
        if task == "normals":
            return y.permute(1, 2, 0).contiguous().numpy()
        return y[0].numpy()


def _unmirror(task: str, y: torch.Tensor) -> torch.Tensor:
    """Outputs ``(B, C, h, w)`` of a mirrored image, mirrored back: flipped left to right, and
    for ``normals`` (x right, y down, z towards the camera) with x negated."""
    y = y.flip(-1)
    if task == "normals":
        y = torch.cat([-y[:, :1], y[:, 1:]], dim=1)
    return y
