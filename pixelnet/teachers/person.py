"""A person teacher for pseudo-labels: MediaPipe's selfie segmentation, run with LiteRT (training only).

ImageNet has no person class, so the dense ImageNet teacher cannot label people. MediaPipe's
selfie segmentation model (``selfie_segmentation.tflite``, 250 KB, Apache-2.0) can: it takes a
256 x 256 RGB image in [0, 1] and returns a per-pixel person probability (a sigmoid output). It
ships inside the PyPI wheel ``mediapipe==0.10.21`` (1.x wheels no longer carry it);
``train/fetch_data.py`` downloads that wheel with ``pip download --no-deps`` and extracts only
the model into ``CACHE/teachers/`` (mediapipe itself is never installed: it pins numpy < 2). The
model runs with PyPI's ``ai-edge-litert`` (requirements-dev.txt). Nothing at run time needs it.

It is a *selfie* model: it marks the main subject of a close-up, whatever it is (seen on
scikit-image's cat photo: 0.90 mean probability). :func:`pixelnet.distill.pseudo_labels.combine_person`
therefore counts a pixel as a person only as far as the dense ImageNet teacher does not see an
animal, food, a plant, a vehicle or kitchenware there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pixelnet.fetch.sources import DEFAULT_CACHE, PERSON_MODEL, PERSON_MODEL_MEMBER

__all__ = ["PERSON_MODEL", "PERSON_MODEL_MEMBER", "PersonTeacher", "default_person_model"]

_SIDE = 256


def default_person_model() -> Path:
    """``~/.cache/pixelnet/real/teachers/selfie_segmentation.tflite`` (where ``train/fetch_data.py`` puts it)."""
    return DEFAULT_CACHE / "teachers" / PERSON_MODEL


class PersonTeacher:
    """Person probabilities of RGB photos from the selfie segmentation model.

    Args:
        path: the ``.tflite`` file (default: :func:`default_person_model`).

    Raises:
        FileNotFoundError: no model file (run ``python train/fetch_data.py``).
        ImportError: ``ai-edge-litert`` is not installed.
    """

    def __init__(self, *, path: str | Path | None = None) -> None:
        path = Path(path) if path is not None else default_person_model()
        if not path.is_file():
            raise FileNotFoundError(f"person teacher not found: {path} (run python train/fetch_data.py)")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise ImportError("the person teacher runs with LiteRT: pip install ai-edge-litert "
                              "(it is in requirements-dev.txt)") from e
        self._net = Interpreter(model_path=str(path), num_threads=1)
        self._net.allocate_tensors()
        inp, out = self._net.get_input_details()[0], self._net.get_output_details()[0]
        if tuple(inp["shape"]) != (1, _SIDE, _SIDE, 3) or tuple(out["shape"]) != (1, _SIDE, _SIDE, 1):
            raise ValueError(f"{path}: expected a 1x{_SIDE}x{_SIDE}x3 -> 1x{_SIDE}x{_SIDE}x1 model, got "
                             f"{tuple(inp['shape'])} -> {tuple(out['shape'])}")
        self._in, self._out = inp["index"], out["index"]

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Person probability of an RGB photo.

        Args:
            rgb: uint8 ``(H, W, 3)``.

        Returns:
            float32 ``(H, W)`` in [0, 1] (the model's 256 x 256 output resized bilinearly).

        Raises:
            ValueError: not a uint8 ``(H, W, 3)`` array.
        """
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected a uint8 (H, W, 3) RGB image, got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        x = np.asarray(Image.fromarray(rgb).resize((_SIDE, _SIDE), Image.Resampling.BILINEAR), np.float32)
        x = x[None] / 255.0  # (1, 256, 256, 3) in [0, 1]
        self._net.set_tensor(self._in, x)
        self._net.invoke()
        p = self._net.get_tensor(self._out)[0, :, :, 0].astype(np.float32)  # (256, 256), a sigmoid output
        p = np.asarray(Image.fromarray(p).resize((w, h), Image.Resampling.BILINEAR), np.float32)
        return np.clip(p, 0.0, 1.0)
