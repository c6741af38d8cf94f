"""HED's outputs for one image, as the explorer shows them: the fused edge map, the five side
outputs, and one pixel's side-output terms of the fused logit.

HED is not a PixelNet (no hypercolumn, no taps, no MLP head), so the explorer does not treat it
as one: a session whose edges choice is HED holds an :class:`HEDEdges` next to its PixelNet
predictor and asks it for ``edges`` (the map of the edges panel), ``side_maps`` (the tap-maps
view) and ``inspect`` (the pixel inspector). HED's fusion is a 1x1 convolution ``5 -> 1`` of the
side-output logits, so ``fuse(p) = b + sum_i w_i dsn_i(p)`` exactly: the terms ``w_i dsn_i(p)``
are the side outputs' contributions, with no attribution method needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pixelnet.teachers import HED, HED_SIDES, HEDPredictor

__all__ = ["HEDEdges"]


class HEDEdges:
    """HED on one working image; the network runs once per scale and every view reads its cache.

    Args:
        model: the HED module (eval mode, from :meth:`demo.models.ModelBank.reference`).
        image: the session's working ``(H, W, 3)`` uint8 image (already resized; not resized again).
        label: the menu label of the choice (shown in the inspector).
        device: where HED runs.
    """

    kind = "reference"

    def __init__(self, model: HED, image: np.ndarray, *, label: str, device: str | torch.device = "cpu") -> None:
        self.label = label
        self.predictor = HEDPredictor(model, device=device, max_side=max(int(image.shape[0]), int(image.shape[1])))
        self.predictor.set_image(image)
        assert self.predictor.image_scale == 1.0
        self.model = model

    @property
    def image(self) -> np.ndarray:
        """The ``(H, W, 3)`` uint8 image the outputs refer to."""
        assert self.predictor.image is not None
        return self.predictor.image

    def edges(self, scales: Sequence[float] = (1.0,)) -> np.ndarray:
        """HED's fused edge map averaged over ``scales``: ``(H, W)`` float32 probabilities
        (exactly :meth:`HEDPredictor.predict`)."""
        return self.predictor.predict(scales=scales)["edges"]

    def side_maps(self) -> dict[str, np.ndarray]:
        """``dsn1..dsn5`` (shallow ``conv1_2`` to deep ``conv5_3``) then ``fuse``: name -> ``(H, W)``
        float32 probabilities at scale 1."""
        out = self.predictor.outputs(1.0)
        return {name: out[name].numpy() for name in (*HED_SIDES, "fuse")}

    def fuse_weights(self) -> tuple[list[float], float]:
        """The fusion's weights ``w_1..w_5`` (in :data:`HED_SIDES` order) and bias ``b``."""
        w = self.model.fuse.weight.detach().reshape(-1).double().cpu().tolist()  # (1, 5, 1, 1) -> 5
        b = float(self.model.fuse.bias.detach().double().cpu()[0])
        return [float(v) for v in w], b

    def inspect(self, xw: int, yw: int) -> dict[str, Any]:
        """What the inspector shows for working pixel ``(xw, yw)``, JSON-able.

        Returns:
            ``kind`` (``"reference"``), ``model`` (label), ``prediction`` ``{"prob": P(edge)}`` (the
            fused map at the pixel), ``taps`` (``dsn1..dsn5``), ``side_taps`` (the VGG layer each
            reads), ``side_logits`` and ``side_probs``, ``fuse_weights``, ``contributions`` (one row
            ``[w_i * dsn_i]`` per side output), ``bias``, ``fused_logit`` (the network's),
            ``contribution_sum`` (``bias + sum of contributions``, equal to ``fused_logit`` up to
            float32 rounding) and a ``note``.
        """
        h, w = self.image.shape[:2]
        if not (0 <= xw < w and 0 <= yw < h):
            raise ValueError(f"pixel ({xw}, {yw}) is outside the {w}x{h} image")
        logits = self.predictor.logits(1.0)  # name -> (H, W): scale 1 is the image size
        probs = self.predictor.outputs(1.0)
        sides = [float(logits[name][yw, xw]) for name in HED_SIDES]
        fused = float(logits["fuse"][yw, xw])
        weights, bias = self.fuse_weights()
        contributions = [wi * li for wi, li in zip(weights, sides)]
        return {
            "kind": self.kind,
            "model": self.label,
            "prediction": {"prob": float(probs["fuse"][yw, xw])},
            "taps": list(HED_SIDES),
            "side_taps": [HED_SIDES[name] for name in HED_SIDES],
            "side_logits": sides,
            "side_probs": [float(probs[name][yw, xw]) for name in HED_SIDES],
            "fuse_weights": weights,
            "contributions": [[c] for c in contributions],
            "bias": bias,
            "fused_logit": fused,
            "contribution_sum": bias + sum(contributions),
            "note": "HED is not a PixelNet: its per-layer terms are its side outputs dsn1..dsn5, and "
                    "fused logit = bias + sum_i w_i * dsn_i exactly (a 1x1 fusion); taps do not apply",
        }
