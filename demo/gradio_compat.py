"""Gradio workarounds and thread plumbing shared by every tab, one line each on what it works around.

- :func:`user_errors`: Gradio shows a raw exception (or a bare "Error") to the browser; every callback
  turns failures into a ``gr.Error`` with a clear message and the traceback stays in the server log.
- :func:`on_model_thread`: Gradio runs callbacks on many worker threads, and torch's intra-op threads
  started from several threads fight each other; all model work goes to the explorer's one model thread.
- :class:`SafeImage` / :class:`SafeGallery`: Gradio rewrites content-addressed cache files in place, so a
  concurrent request can be served a half-written file; these write each picture once, atomically.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np

from pixelnet.image import ImageError
from pixelnet.io import ModelFileError

__all__ = ["SafeGallery", "SafeImage", "cache_picture", "on_model_thread", "user_errors"]

log = logging.getLogger("pixelnet.demo")
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn every failure of a callback into a ``gr.Error`` with a clear message (the
    server logs the traceback of unexpected ones; the browser never sees it)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ImageError, ModelFileError) as e:
            raise gr.Error(str(e)) from None
        except ValueError as e:
            raise gr.Error(f"invalid input: {e}") from None
        except MemoryError:
            raise gr.Error(
                "out of memory for this image; try a smaller one (or a lower --max-side)"
            ) from None
        except Exception as e:  # noqa: BLE001 - the UI must stay up and show a message
            log.exception("callback %s failed", fn.__name__)
            raise gr.Error(f"internal error ({e.__class__.__name__}); see the server log") from None

    return wrapper  # type: ignore[return-value]


def on_model_thread(fn: F) -> F:
    """Run a tab callback method (``self.explorer``) on its explorer's model thread (:meth:`Explorer.run`)."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self.explorer.run(fn, self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def cache_picture(value: np.ndarray, cache_dir: str | Path, fmt: str | None) -> str:
    """Write an ``(H, W[, C])`` uint8 picture into Gradio's cache once, atomically, and return its path.

    Gradio names cached outputs by content and rewrites an existing file in place, so when
    two sessions produce the same picture at once, one of them may be served a file in the
    middle of being rewritten (a truncated response). Here a picture that is already cached
    is not written again, and a new one appears by an atomic rename.
    """
    import hashlib
    import io
    import tempfile

    from gradio.processing_utils import encode_pil_to_bytes
    from PIL import Image

    fmt = fmt or "webp"
    pil = Image.fromarray(np.ascontiguousarray(value, dtype=np.uint8))
    if fmt == "webp":  # libwebp's fastest method: ~8 ms instead of ~30 ms for 512x512
        with io.BytesIO() as buf:
            pil.save(buf, format="webp", method=0)
            data = buf.getvalue()
    else:
        data = encode_pil_to_bytes(pil, fmt)
    folder = Path(cache_dir) / ("pixelnet-" + hashlib.sha256(data).hexdigest()[:40])
    path = folder / f"image.{fmt}"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as f:
            f.write(data)
        os.replace(f.name, path)
    return str(path)


class SafeImage(gr.Image):
    """``gr.Image`` whose pictures are written once, atomically, into the cache (:func:`cache_picture`)."""

    def get_block_name(self) -> str:
        return "image"  # the browser draws it with gr.Image's frontend

    def postprocess(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            value = cache_picture(value, self.GRADIO_CACHE, self.format)
        return super().postprocess(value)


class SafeGallery(gr.Gallery):
    """``gr.Gallery`` whose pictures are written once, atomically, into the cache (:func:`cache_picture`)."""

    def get_block_name(self) -> str:
        return "gallery"

    def postprocess(self, value: Any) -> Any:
        def safe(item: Any) -> Any:
            if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], np.ndarray):
                return cache_picture(item[0], self.GRADIO_CACHE, self.format), item[1]
            return cache_picture(item, self.GRADIO_CACHE, self.format) if isinstance(item, np.ndarray) else item

        return super().postprocess(None if value is None else [safe(v) for v in value])

