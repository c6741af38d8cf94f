"""The label-free feature views: what the ImageNet hypercolumn under the heads encodes.

- In the pixel inspector (:func:`build_similarity`): the cosine similarity of the clicked pixel's
  hypercolumn to every pixel, one map per tap and one for the whole hypercolumn.
- The "Features" tab (:func:`build`): PCA colours per tap and of the chosen taps, k-means segments
  (click one for its per-tap profile), and a second image to compare with (similarity of a pixel
  of image A to every pixel of image B; PCA and k-means fitted on both so colours agree).

Everything is computed by :mod:`pixelnet.features`; this module only caches it per session and draws.
API: ``/similarity`` (image, x, y, space, optional image B) and ``/features`` (image, k, space, taps, seed,
optional image B) return the pictures and a JSON summary.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import torch

from demo.explorer import Session, single_thread
from demo.gradio_compat import SafeGallery, SafeImage, on_model_thread, user_errors
from demo.tabs.base import TabBase, check_taps
from demo.tabs.predict import MainView
from pixelnet.features import (
    HYPERCOLUMN,
    SPACES,
    DenseHypercolumns,
    KMeansModel,
    feature_spaces,
    fit_kmeans,
    fit_pca,
    kmeans_labels,
    pca_rgb,
    segment_profile,
    similarity_maps,
    top_matches,
)
from pixelnet.visualize import class_palette, colorize_labels, draw_points, heatmap, legend_html, overlay

__all__ = ["FeaturesTab", "build", "build_similarity", "similarity_rgb"]

CACHE = 4  # feature spaces (image or image pair x space) kept
TOP_K = 5


def similarity_rgb(sim: torch.Tensor) -> np.ndarray:
    """A cosine map ``(H, W)`` in [-1, 1] -> ``(H, W, 3)`` uint8 (blue -1, white 0, red +1)."""
    return heatmap((sim.numpy() + 1) / 2, vmax=1.0, cmap="RdBu_r")


def _rgb(x: torch.Tensor) -> np.ndarray:
    return (x.numpy() * 255).round().astype(np.uint8)


class FeaturesTab(TabBase):
    """Callbacks of the similarity maps and the Features tab."""

    @property
    def _spaces(self) -> OrderedDict[tuple[int, ...], tuple[Any, ...]]:
        """(space, predictors...) -> (predictors, hypercolumns): an LRU of :data:`CACHE` entries."""
        if "_feature_spaces" not in self.__dict__:
            self.__dict__["_feature_spaces"] = OrderedDict()
        return self.__dict__["_feature_spaces"]

    @property
    def _kmeans(self) -> OrderedDict[tuple[Any, ...], tuple[Any, ...]]:
        """(space, predictor) -> (predictor, k-means model, labels) of the last segments computed."""
        if "_feature_kmeans" not in self.__dict__:
            self.__dict__["_feature_kmeans"] = OrderedDict()
        return self.__dict__["_feature_kmeans"]

    # ---- per-session hypercolumns, cached ----------------------------------------------
    def _raw(self, s: Session) -> DenseHypercolumns:
        task = next(iter(s.models))
        backbone = s.models[task].backbone
        return DenseHypercolumns.from_predictor(s.predictor, task, taps=list(backbone.tap_names))

    def _hypercolumns(self, space: str, *sessions: Session) -> list[DenseHypercolumns]:
        """The sessions' hypercolumns in ``space`` (standardised with moments pooled over them)."""
        if space not in SPACES:
            raise gr.Error(f"unknown feature space {space!r}; choose one of {list(SPACES)}")
        key = (SPACES.index(space), *(id(s.predictor) for s in sessions))
        hit = self._spaces.get(key)
        if hit is not None and all(a is b.predictor for a, b in zip(hit[0], sessions)):
            self._spaces.move_to_end(key)
            return hit[1]
        raws = [self._raw(s) for s in sessions]
        if len({tuple(r.tap_names) for r in raws}) > 1:
            raise gr.Error("the two images' models have different backbones; compare images under one model")
        hcs = feature_spaces(raws, space)
        self._spaces[key] = (tuple(s.predictor for s in sessions), hcs)
        while len(self._spaces) > CACHE:
            self._spaces.popitem(last=False)
        return hcs

    def _second(self, image_b: Any, models: Sequence[str | None]) -> Session | None:
        if image_b is None:
            return None
        return self._session(image_b, *models)

    # ---- similarity --------------------------------------------------------------------
    @user_errors
    @on_model_thread
    def similarity(self, image: Any, x: float, y: float, space: str = "standardised", image_b: Any = None,
                   seg_model: str | None = None, normals_model: str | None = None,
                   edges_model: str | None = None) -> tuple[list[Any], dict[str, Any]]:
        """Cosine similarity of original-image pixel ``(x, y)``'s hypercolumn to every pixel of the
        image (or of ``image_b``), per tap and whole.

        Returns:
            (gallery: one map per tap then the whole hypercolumn, JSON: the maps' taps, per-tap mean
            similarity and the top-k most similar pixels with every tap's value there).
        """
        if x is None or y is None:
            raise gr.Error("give the pixel's x and y")
        models = (seg_model, normals_model, edges_model)
        with self.explorer.lock:
            s = self._session(image, *models)
            h, w = s.original_size
            if not (0 <= float(x) < w and 0 <= float(y) < h):
                raise gr.Error(f"pixel ({x}, {y}) is outside the {w}x{h} image")
            xw, yw = s.to_working(float(x), float(y))
            return self._similarity(s, self._second(image_b, models), xw, yw, space)

    def _similarity(self, s: Session, sb: Session | None, xw: int, yw: int,
                    space: str) -> tuple[list[Any], dict[str, Any]]:
        with single_thread():
            hcs = self._hypercolumns(space, s) if sb is None else self._hypercolumns(space, s, sb)
            target = hcs[-1]
            maps = similarity_maps(hcs[0], yw, xw, target=target)
        ts = sb or s
        radius = 0 if sb is not None else max(t.stride for t in target.taps)
        top = top_matches(maps, TOP_K, exclude=None if sb is not None else (yw, xw), radius=radius)
        for m in top:
            m["working_x"], m["working_y"] = m.pop("x"), m.pop("y")
            m["x"], m["y"] = ts.to_original(m["working_x"], m["working_y"])
        info = {t.name: t for t in target.taps}
        gallery = []
        for name, m in maps.items():
            pic = similarity_rgb(m)
            if sb is None:
                pic = draw_points(pic, np.array([[yw, xw]]), colour=(0, 0, 0), radius=4)
            cap = (f"{name}: stride {info[name].stride}, {info[name].channels} ch" if name != HYPERCOLUMN
                   else f"whole hypercolumn: {target.channels} ch")
            gallery.append((pic, cap))
        x0, y0 = s.to_original(xw, yw)
        d = {"x": x0, "y": y0, "working_x": xw, "working_y": yw, "space": space, "cross_image": sb is not None,
             "taps": target.tap_names, "channels": target.channels, "size": list(target.size),
             "mean": {n: float(m.mean()) for n, m in maps.items()},
             "top_k": top, "top_k_excludes_radius": radius}
        return gallery, d

    @user_errors
    @on_model_thread
    def on_select_similarity(self, image: Any, seg_model: str | None, normals_model: str | None,
                             edges_model: str | None, space: str, evt: gr.SelectData) -> tuple[Any, ...]:
        """Click on the working image (``evt.index`` = ``[x, y]``): the similarity maps."""
        if evt is None or evt.index is None:
            raise gr.Error("click on the image")
        with self.explorer.lock:
            s = self._session(image, seg_model, normals_model, edges_model)
            h, w = s.image.shape[:2]
            xw, yw = min(max(int(evt.index[0]), 0), w - 1), min(max(int(evt.index[1]), 0), h - 1)
            return self._similarity(s, None, xw, yw, space)

    # ---- PCA and k-means ---------------------------------------------------------------
    @user_errors
    @on_model_thread
    def features(self, image: Any, k: int = 8, space: str = "standardised", taps: Sequence[str] | None = None,
                 seed: int = 0, image_b: Any = None, seg_model: str | None = None,
                 normals_model: str | None = None, edges_model: str | None = None) -> tuple[Any, ...]:
        """PCA colours (per tap and of ``taps``) and k-means segments of the image (and of ``image_b``,
        fitted on both).

        Returns:
            (per-tap PCA gallery, PCA of the chosen taps, k-means overlay, legend HTML, the same PCA and
            overlay of image B or None, JSON: taps, segment sizes and colours).
        """
        k = int(k)
        if not 2 <= k <= 16:
            raise gr.Error(f"k must be between 2 and 16, got {k}")
        models = (seg_model, normals_model, edges_model)
        with self.explorer.lock, single_thread():
            s = self._session(image, *models)
            sb = self._second(image_b, models)
            sessions = [s] if sb is None else [s, sb]
            hcs = self._hypercolumns(space, *sessions)
            chosen = check_taps(None if taps is None else list(taps), hcs[0].tap_names) or hcs[0].tap_names
            per_tap = {t: fit_pca(hcs, [t], seed=int(seed)) for t in hcs[0].tap_names}
            pca_all = fit_pca(hcs, chosen, seed=int(seed))
            km = fit_kmeans(hcs, k, chosen, seed=int(seed))
            labels = [kmeans_labels(hc, km) for hc in hcs]
            self._remember(sessions, space, km, labels)
            gallery = [(_rgb(pca_rgb(hc, per_tap[t])), f"{'B: ' if i else ''}{t}")
                       for t in hcs[0].tap_names for i, hc in enumerate(hcs)]
            pcas = [_rgb(pca_rgb(hc, pca_all)) for hc in hcs]
        pal = class_palette(k + 1)[1:]  # no black
        overlays = [overlay(ss.image, colorize_labels(lab.numpy(), pal), 0.6) for ss, lab in zip(sessions, labels)]
        frac = np.bincount(labels[0].flatten().numpy(), minlength=k) / labels[0].numel()
        legend = legend_html([f"segment {j}" for j in range(k)], pal, fractions=frac.tolist())
        d = {"k": k, "space": space, "seed": int(seed), "taps": list(chosen), "channels": int(km.centroids.shape[1]),
             "segments": [{"index": j, "fraction": float(frac[j]), "colour": [int(c) for c in pal[j]]}
                          for j in range(k)],
             "pca_singular_values": [float(v) for v in pca_all.singular_values],
             "second_image": sb is not None}
        if sb is not None:
            fb = np.bincount(labels[1].flatten().numpy(), minlength=k) / labels[1].numel()
            d["segments_b"] = [{"index": j, "fraction": float(fb[j])} for j in range(k)]
        return (gallery, pcas[0], overlays[0], legend, pcas[1] if sb else None, overlays[1] if sb else None, d)

    def _remember(self, sessions: Sequence[Session], space: str, km: KMeansModel, labels: list[torch.Tensor]) -> None:
        key = (space, *(id(s.predictor) for s in sessions[:1]))
        self._kmeans[key] = (sessions[0].predictor, km, labels[0])
        self._kmeans.move_to_end(key)
        while len(self._kmeans) > CACHE:
            self._kmeans.popitem(last=False)

    @user_errors
    @on_model_thread
    def segment_profile(self, image: Any, space: str, seg_model: str | None, normals_model: str | None,
                        edges_model: str | None, evt: gr.SelectData) -> tuple[Any, Any, str]:
        """Click on the k-means overlay: the segment's per-tap profile (two bar charts: distinctness
        and coherence per tap; Markdown)."""
        if evt is None or evt.index is None:
            raise gr.Error("click on the segments")
        with self.explorer.lock, single_thread():
            s = self._session(image, seg_model, normals_model, edges_model)
            hit = self._kmeans.get((space, id(s.predictor)))
            if hit is None or hit[0] is not s.predictor:
                raise gr.Error("compute the segments first")
            _, km, labels = hit
            h, w = labels.shape
            xw, yw = min(max(int(evt.index[0]), 0), w - 1), min(max(int(evt.index[1]), 0), h - 1)
            seg = int(labels[yw, xw])
            (hc,) = self._hypercolumns(space, s)
            prof = segment_profile(hc.select(list(km.taps)), labels, seg)
        distinct = pd.DataFrame({"tap": list(km.taps), "value": [prof.distinct[t] for t in km.taps],
                                 "measure": ["distinct (image std)"] * len(km.taps)})
        coherence = pd.DataFrame({"tap": list(km.taps), "value": [prof.coherence[t] for t in km.taps],
                                  "measure": ["coherence (mean cosine)"] * len(km.taps)})
        md = (f"**Segment {seg}**: {prof.pixels} pixels ({100 * prof.pixels / labels.numel():.1f} %). "
              "*Distinct*: how far the segment's mean lies from the image mean in that tap (RMS over channels, "
              "in image standard deviations). *Coherence*: mean cosine of its pixels to the segment mean.")
        return distinct, coherence, md

    @user_errors
    @on_model_thread
    def on_select_cross(self, image: Any, image_b: Any, space: str, seg_model: str | None,
                        normals_model: str | None, edges_model: str | None,
                        evt: gr.SelectData) -> tuple[list[Any], dict[str, Any]]:
        """Click on image A's PCA picture: similarity maps on image B (on A itself without B)."""
        if evt is None or evt.index is None:
            raise gr.Error("click on the picture")
        models = (seg_model, normals_model, edges_model)
        with self.explorer.lock:
            s = self._session(image, *models)
            h, w = s.image.shape[:2]
            xw, yw = min(max(int(evt.index[0]), 0), w - 1), min(max(int(evt.index[1]), 0), h - 1)
            return self._similarity(s, self._second(image_b, models), xw, yw, space)


def build_similarity(app: FeaturesTab, view: MainView) -> None:
    """The similarity maps under the pixel inspector (inside its ``gr.Tab``), on the same click."""
    with gr.Accordion("Similarity of the clicked pixel's hypercolumn (no labels)", open=True):
        gr.Markdown(
            "Cosine similarity of the clicked pixel's features to every pixel: one map per tap (shallow "
            "to deep) and the whole hypercolumn. Red +1, white 0, blue -1; the black dot is the pixel. "
            "*standardised*: every channel z-scored over the image and each tap given equal weight."
        )
        space = gr.Radio(list(SPACES), value="standardised", label="Feature space", elem_id="similarity-space")
        maps = SafeGallery(label="Similarity maps", columns=4, height=420, elem_id="similarity-maps")
        result = gr.JSON(label="similarity result (the /similarity API returns this)", open=False)
    inputs = [view.image_in, *view.models_in, space]
    view.clickable.select(app.on_select_similarity, inputs, [maps, result], preprocess=False,
                          api_visibility="private", trigger_mode="always_last")


def build(app: FeaturesTab, view: MainView) -> None:
    """Lay out the "Features" tab and wire it (and the ``features`` API)."""
    task = next(t for t in app.bank.choices if not app.bank.is_reference(t))  # as _raw: the first PixelNet
    tap_names = app.explorer.run(lambda: list(app.bank.get(task).backbone.tap_names))
    gr.Markdown(
        "What the ImageNet hypercolumn encodes, without any labels: its first three principal components "
        "as RGB, per tap and for the chosen taps, and k-means segments (click one for its per-tap "
        "profile). Add a second image to fit both together and to click a pixel of A and find it in B."
    )
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            image_b = gr.Image(label="Second image B (optional)", type="filepath", sources=["upload"], height=200,
                               elem_id="features-b")
            chosen = gr.CheckboxGroup(tap_names, value=tap_names, label="Taps for PCA and k-means")
            k = gr.Slider(2, 16, value=8, step=1, label="k (segments)")
            space = gr.Radio(list(SPACES), value="standardised", label="Feature space")
            seed = gr.Number(0, precision=0, label="Seed")
            run = gr.Button("Compute features", variant="primary", elem_id="features-run")
        with gr.Column(scale=3):
            with gr.Row():
                pca_a = SafeImage(label="PCA of the chosen taps (click: find this pixel in B)", interactive=False,
                                  elem_id="features-pca")
                seg_a = SafeImage(label="k-means segments (click a segment)", interactive=False,
                                  elem_id="features-kmeans")
            legend = gr.HTML()
            with gr.Row():
                pca_b = SafeImage(label="B: PCA of the chosen taps", interactive=False)
                seg_b = SafeImage(label="B: k-means segments", interactive=False)
    per_tap = SafeGallery(label="PCA per tap (shallow to deep)", columns=6, height=260)
    with gr.Row():
        distinct = gr.BarPlot(x="tap", y="value", color="measure", sort=tap_names,
                              label="Segment: distance of its mean from the image mean, per tap")
        coherence = gr.BarPlot(x="tap", y="value", color="measure", sort=tap_names,
                               label="Segment: mean cosine of its pixels to its mean, per tap")
        profile_md = gr.Markdown()
    with gr.Row():
        x_in = gr.Number(label="x in A (original pixels)", precision=0, elem_id="features-x")
        y_in = gr.Number(label="y in A (original pixels)", precision=0, elem_id="features-y")
        find = gr.Button("Similarity maps of (x, y)", elem_id="features-find")
    cross = SafeGallery(label="Similarity maps of the clicked pixel on B (on A without B)", columns=4, height=360,
                        elem_id="features-cross")
    result = gr.JSON(label="features result (the /features API returns this)", open=False)
    cross_json = gr.JSON(label="similarity result", open=False)
    run.click(app.features, [view.image_in, k, space, chosen, seed, image_b, *view.models_in],
              [per_tap, pca_a, seg_a, legend, pca_b, seg_b, result], preprocess=False, api_name="features")
    seg_a.select(app.segment_profile, [view.image_in, space, *view.models_in], [distinct, coherence, profile_md],
                 preprocess=False, api_visibility="private")
    find.click(app.similarity, [view.image_in, x_in, y_in, space, image_b, *view.models_in], [cross, cross_json],
               preprocess=False, api_name="similarity")
    pca_a.select(app.on_select_cross, [view.image_in, image_b, space, *view.models_in], [cross, cross_json],
                 preprocess=False, api_visibility="private", trigger_mode="always_last")
