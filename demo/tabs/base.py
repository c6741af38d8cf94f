"""What every tab's callbacks share: the explorer, the session of an upload, small picture helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from demo.explorer import Explorer, Session, read_upload
from demo.models import FALLBACK_LABEL
from demo.taught import TAUGHT_PREFIX, TaughtGone, TaughtStore, current_session
from pixelnet.model import PixelNet

__all__ = ["TabBase", "bar_frame", "check_taps", "thumb", "to_height"]


def check_taps(taps_on: Sequence[str] | None, available: Sequence[str]) -> list[str] | None:
    """Validate a tap selection against the current models' taps (None: all taps on)."""
    if taps_on is None:
        return None
    unknown = [t for t in taps_on if t not in available]
    if unknown:
        raise gr.Error(f"unknown taps {unknown}; the selected models have taps {list(available)}")
    if not taps_on:
        raise gr.Error("switch on at least one tap")
    return list(taps_on)


def bar_frame(taps: Sequence[str], values: Sequence[float], label: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"tap": list(taps), "contribution": [float(v) for v in values], "output": [label] * len(taps)}
    )


def thumb(img: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    s = side / max(h, w)
    return np.asarray(
        Image.fromarray(img).resize((max(1, round(w * s)), max(1, round(h * s))), Image.NEAREST)
    )


def to_height(img: np.ndarray, height: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    if h == height:
        return img
    return np.asarray(Image.fromarray(img).resize((max(1, round(w * height / h)), height), Image.NEAREST))


class TabBase:
    """Base of the tab callback classes (:class:`demo.app.ExplorerApp` combines them).

    Args:
        explorer: sessions and models.
        taught: the store of heads taught per browser session (a new one by default).
    """

    def __init__(self, explorer: Explorer, *, taught: TaughtStore | None = None) -> None:
        self.explorer = explorer
        self.bank = explorer.bank
        self.taught = taught if taught is not None else TaughtStore()

    # ---- helpers -------------------------------------------------------------------
    def _model(self, task: str, label: str | None) -> PixelNet:
        """The model a dropdown label names: a bank model, or a head taught in this browser session."""
        if label and label.startswith(TAUGHT_PREFIX):
            try:
                return self.taught.get(current_session(), label)
            except TaughtGone as e:
                raise gr.Error(str(e)) from None
        return self.bank.get(task, label or None)

    def _session(self, image: Any, seg: str | None, normals: str | None, edges: str | None) -> Session:
        rgb = read_upload(image)
        choice = {"seg": seg or "", "normals": normals or "", "edges": edges or ""}
        taught = {t: self._model(t, lab) for t, lab in choice.items() if lab.startswith(TAUGHT_PREFIX)}
        return self.explorer.session(rgb, choice, models=taught)

    def model_note(self, labels: Sequence[str]) -> str:
        if any(lab == FALLBACK_LABEL for lab in labels):
            return (
                "**Untrained models**: some tasks use an *untrained head on the ImageNet "
                "efficientnet_lite0 backbone* (no trained model found in `assets/models/` or `runs/`). "
                "Their outputs show the mechanics, not learned predictions."
            )
        return ""
