"""The "Sampled pixels" tab: which pixels a training sampler draws from this image."""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import torch

from demo.gradio_compat import SafeImage, on_model_thread, user_errors
from demo.models import FALLBACK_LABEL
from demo.tabs.base import TabBase
from demo.tabs.predict import MainView
from pixelnet.visualize import class_palette, colorize_labels, draw_points, edges_to_rgb, overlay

__all__ = ["SAMPLERS", "SamplerTab", "build"]

SAMPLERS = ("uniform", "stratified", "biased")


class SamplerTab(TabBase):
    """Callbacks of the sampler view."""

    @user_errors
    @on_model_thread
    def sample(
        self,
        image: Any,
        seg_model: str | None,
        normals_model: str | None,
        edges_model: str | None,
        sampler: str,
        n: int,
        seed: int = 0,
    ) -> tuple[Any, pd.DataFrame, str]:
        """The pixels a training sampler would draw from this image, and what they cover."""
        from pixelnet.samplers import colour_clusters, sample_biased, sample_stratified, sample_uniform

        if sampler not in SAMPLERS:
            raise gr.Error(f"unknown sampler {sampler!r}; choose from {SAMPLERS}")
        n = int(n)
        if not 1 <= n <= 100_000:
            raise gr.Error("N must be between 1 and 100000")
        with self.explorer.lock:
            s = self._session(image, seg_model, normals_model, edges_model)
            gt = self.explorer.ground_truth_of(s.image)
            img = s.image
            seg_model = s.models.get("seg")
            trained_seg = s.reference_seg is not None or (
                seg_model is not None and seg_model.config.provenance.get("note") != FALLBACK_LABEL)
            seg_names = s.seg_class_names()
            predicted = s.predict()["seg"].argmax(0).astype(np.int64) if trained_seg and gt is None else None
        if gt is not None and "seg" in gt:
            strata, names, source = gt["seg"].astype(np.int64), None, "ground-truth classes"
        elif predicted is not None:
            strata, names, source = predicted, None, "predicted classes (no labels)"
        else:
            strata, names, source = colour_clusters(img, 6), None, "colour clusters (no labels)"
        if gt is not None and "edges" in gt:
            edges, edge_source = (gt["edges"] == 1).astype(np.uint8), "ground-truth boundaries"
        else:
            b = np.zeros(strata.shape, dtype=bool)
            b[:, 1:] |= strata[:, 1:] != strata[:, :-1]
            b[1:, :] |= strata[1:, :] != strata[:-1, :]
            edges, edge_source = b.astype(np.uint8), f"boundaries of the {source}"
        g = torch.Generator().manual_seed(int(seed))
        if sampler == "uniform":
            coords = sample_uniform(torch.ones(1, *strata.shape, dtype=torch.bool), n, generator=g)
            what = "uniform over all pixels"
        elif sampler == "stratified":
            coords = sample_stratified(torch.from_numpy(strata)[None], n, generator=g)
            what = f"stratified by {source}"
        else:
            coords = sample_biased(torch.from_numpy(edges)[None], n, pos_fraction=0.5, generator=g)
            what = f"biased: half from {edge_source}"
        yx = coords[:, 1:].numpy()
        if sampler == "biased":
            cats, labels = edges, ["non-edge", "edge"]
        else:
            k = int(strata.max()) + 1
            cats, labels = (
                strata,
                names or [f"cluster {i}" if "colour" in source else f"class {i}" for i in range(k)],
            )
            if seg_names is not None and "colour" not in source and (s.reference_seg is None or predicted is not None):
                labels = [seg_names[i] if i < len(seg_names) else f"class {i}" for i in range(k)]
        k = len(labels)
        image_frac = np.bincount(cats.ravel(), minlength=k)[:k] / cats.size
        sample_frac = np.bincount(cats[yx[:, 0], yx[:, 1]], minlength=k)[:k] / max(len(yx), 1)
        hist = pd.DataFrame(
            {
                "category": [f"{lab} ({w})" for lab in labels for w in ("image", "sampled")],
                "fraction": [float(v) for pair in zip(image_frac, sample_frac) for v in pair],
                "set": [w for _ in labels for w in ("image", "sampled")],
            }
        )
        r = max(1, round(max(img.shape[:2]) / 250))
        if sampler == "biased":
            base = overlay(img, edges_to_rgb(edges.astype(np.float32)), 0.3)
        else:
            base = overlay(img, colorize_labels(strata, class_palette(int(strata.max()) + 1)), 0.35)
        shown = draw_points(base, yx, radius=r)
        return shown, hist, f"{len(yx)} pixels, {what}."



def build(app: SamplerTab, view: MainView) -> None:
    """Lay out the tab and wire its controls."""
    gr.Markdown(
        "The pixels a training sampler draws from this image: a few diverse pixels "
        "per image are what PixelNet trains on."
    )
    with gr.Row():
        sampler = gr.Radio(list(SAMPLERS), value="stratified", label="Sampler")
        n_pix = gr.Slider(10, 4000, value=500, step=10, label="N pixels")
        seed = gr.Number(0, precision=0, label="Seed")
    with gr.Row():
        sampled = SafeImage(label="Sampled pixels", interactive=False)
        hist = gr.BarPlot(
            x="category",
            y="fraction",
            color="set",
            x_label_angle=-40,
            label="Sampled vs whole image",
        )
    sample_note = gr.Markdown()
    gr.on(
        [sampler.change, n_pix.release, seed.submit],
        app.sample,
        [view.image_in, *view.models_in, sampler, n_pix, seed],
        [sampled, hist, sample_note],
        preprocess=False,
        api_visibility="private",
        trigger_mode="always_last",
    )
