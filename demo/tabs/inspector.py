"""The "Pixel inspector" tab: one pixel's prediction, the exact Shapley contribution of each tap,
and the zoom-out view of the taps' cells and receptive fields around it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from demo.explorer import Session, single_thread
from demo.gradio_compat import SafeGallery, SafeImage, on_model_thread, user_errors
from demo.tabs.base import TabBase, bar_frame, check_taps, thumb, to_height
from demo.tabs.predict import MainView
from pixelnet.teachers import HED_SIDES
from pixelnet.visualize import (
    TAP_COLOURS,
    draw_points,
    draw_zoom_out,
    heatmap,
    magnified_cells,
    normals_to_rgb,
    receptive_field_sizes,
)

__all__ = ["InspectorTab", "build", "hed_terms_markdown", "teacher_seg_markdown", "where_seg_markdown"]

ZOOM_SIDE = 512  # the zoom-out view is drawn on a copy at most this large


def hed_terms_markdown(edges: dict[str, Any], x: int, y: int) -> str:
    """The inspector's text for HED at pixel ``(x, y)``: a table of the side outputs' logits,
    fusion weights and terms, and the check that bias plus terms is the fused logit.

    Args:
        edges: :meth:`demo.hed_edges.HEDEdges.inspect` of the pixel.
    """
    rows = ["| side output | layer | logit | P(edge) | fusion weight | weight x logit |", "|---|---|---|---|---|---|"]
    for name, tap, logit, prob, weight, (term,) in zip(edges["taps"], edges["side_taps"], edges["side_logits"],
                                                        edges["side_probs"], edges["fuse_weights"],
                                                        edges["contributions"]):
        rows.append(f"| {name} | {tap} | {logit:+.3f} | {prob:.3f} | {weight:+.3f} | {term:+.3f} |")
    rows.append(f"| bias | | | | | {edges['bias']:+.3f} |")
    return (
        f"**Edge probability** at ({x}, {y}), {edges['model']}: **{edges['prediction']['prob']:.3f}**\n\n"
        + "\n".join(rows)
        + f"\n\nbias + sum of the terms = **{edges['contribution_sum']:+.4f}** = HED's fused logit "
        f"**{edges['fused_logit']:+.4f}** (fusion is a 1x1 convolution of the five side outputs, so the terms are "
        f"exact); sigmoid gives the edge probability."
    )


def teacher_seg_markdown(seg: dict[str, Any], x: int, y: int) -> str:
    """The inspector's text for the raw teacher as the seg model at pixel ``(x, y)``: its top categories
    and why there are no tap contributions.

    Args:
        seg: :meth:`demo.teacher_seg.TeacherSeg.inspect` of the pixel.
    """
    p = seg["prediction"]
    ranked = sorted(zip(p["classes"], p["probs"]), key=lambda cp: -cp[1])[:3]
    return (f"**Segmentation** at ({x}, {y}), {seg['model']}: **{p['top']}** "
            f"(P = {p['probs'][p['top_index']]:.3f}; then "
            + ", ".join(f"{c} {v:.3f}" for c, v in ranked[1:]) + ").\n\n"
            "*No tap contributions*: the raw teacher is not a PixelNet but the backbone's ImageNet classifier at "
            "every cell of its `head` tap (class probabilities summed into categories), so it has no hypercolumn "
            "taps; the ImageNet classes below are what it sees here.")


def where_seg_markdown(seg: dict[str, Any], x: int, y: int) -> str:
    """The inspector's text for a *where* model as the seg model at pixel ``(x, y)``: the category (or
    person) shown there and the *where* class its tap contributions explain.

    Args:
        seg: :meth:`demo.where_seg.WhereSeg.inspect` of the pixel.
    """
    p, w = seg["prediction"], seg["where"]
    ranked = sorted(zip(p["classes"], p["probs"]), key=lambda cp: -cp[1])[:3]
    return (f"**Segmentation** at ({x}, {y}): **{p['top']}** (P = {p['probs'][p['top_index']]:.3f}; then "
            + ", ".join(f"{c} {v:.3f}" for c, v in ranked[1:]) + ").\n\n"
            f"A *where* model: here **{w['top']}** (P = {w['probs'][w['top_index']]:.3f}); the bars are the taps' "
            f"exact Shapley contributions to P({w['top']}). The category comes from the backbone's ImageNet "
            "classifier on the same `head` tap (below), pooled over the object region.")


def imagenet_markdown(top: list[dict[str, Any]] | None) -> str:
    """The inspector's text for what the backbone's ImageNet classifier sees at the pixel."""
    if not top:
        return ""
    rows = ["| ImageNet class | category | P |", "|---|---|---|"]
    rows += [f"| {c['name']} | {c['category']} | {c['prob']:.3f} |" for c in top]
    return ("**What the backbone sees here**: its own ImageNet classifier on the `head` tap at this pixel "
            "(top 5 of 1,000 classes)\n\n" + "\n".join(rows))


class InspectorTab(TabBase):
    """Callbacks of the pixel inspector."""

    # ---- inspector -----------------------------------------------------------------
    @user_errors
    @on_model_thread
    def inspect(
        self,
        image: Any,
        x: float,
        y: float,
        seg_model: str | None = None,
        normals_model: str | None = None,
        edges_model: str | None = None,
        taps_on: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Per-task prediction and exact per-tap Shapley contributions at original-image
        pixel ``(x, y)`` (displayed orientation). Returns a JSON-able dict."""
        if x is None or y is None:
            raise gr.Error("give the pixel's x and y")
        with self.explorer.lock:
            s = self._session(image, seg_model, normals_model, edges_model)
            h, w = s.original_size
            if not (0 <= float(x) < w and 0 <= float(y) < h):
                raise gr.Error(f"pixel ({x}, {y}) is outside the {w}x{h} image")
            xw, yw = s.to_working(float(x), float(y))
            d = s.inspect(xw, yw, taps_on=check_taps(taps_on, s.all_taps()))
        d["x"], d["y"] = int(x), int(y)
        return d

    @user_errors
    @on_model_thread
    def on_select(
        self,
        image: Any,
        seg_model: str | None,
        normals_model: str | None,
        edges_model: str | None,
        taps_on: Sequence[str] | None,
        evt: gr.SelectData,
    ) -> tuple[Any, ...]:
        """Click on the working image: ``evt.index`` is ``[x, y]`` in its pixels."""
        if evt is None or evt.index is None:
            raise gr.Error("click on the image")
        xw, yw = int(evt.index[0]), int(evt.index[1])
        with self.explorer.lock, single_thread():
            s = self._session(image, seg_model, normals_model, edges_model)
            h, w = s.image.shape[:2]
            xw, yw = min(max(xw, 0), w - 1), min(max(yw, 0), h - 1)
            d = s.inspect(xw, yw, taps_on=check_taps(taps_on, s.all_taps()))
            visuals = self.render_inspection(s, d)
        return (d["x"], d["y"], *visuals, d)

    @user_errors
    @on_model_thread
    def inspect_view(
        self,
        image: Any,
        x: float,
        y: float,
        seg_model: str | None,
        normals_model: str | None,
        edges_model: str | None,
        taps_on: Sequence[str] | None,
    ) -> tuple[Any, ...]:
        """The inspector's pictures for original-image pixel ``(x, y)`` (after ``inspect``)."""
        d = self.inspect(image, x, y, seg_model, normals_model, edges_model, taps_on)
        with self.explorer.lock:
            s = self._session(image, seg_model, normals_model, edges_model)
            return self.render_inspection(s, d)

    def render_inspection(self, s: Session, d: dict[str, Any]) -> tuple[Any, ...]:
        """(zoom-out view, tap activation thumbnails, class probabilities, normal HTML,
        edge Markdown, seg / normals / edges contribution bar charts, summary Markdown, the
        ImageNet top-5 Markdown, preceded by the raw teacher's or a *where* model's note when it is the seg
        model)."""
        xw, yw = d["working_x"], d["working_y"]
        img = s.image
        k = min(1.0, ZOOM_SIDE / max(img.shape[:2]))
        model = next(iter(s.models.values()))
        taps = sorted({t.name: t for m in s.models.values() for t in m.taps}.values(), key=lambda t: t.stride)
        rf = receptive_field_sizes(
            model.backbone, [t.name for t in taps if t.name in model.backbone.tap_info]
        )
        full = draw_zoom_out(img, yw, xw, taps, rf, width=max(1, round(1 / k)))  # in working pixels
        full = thumb(full, ZOOM_SIDE) if k < 1 else full
        cells = magnified_cells(img, yw, xw, taps)
        cells = to_height(cells, full.shape[0])
        gap = np.full((full.shape[0], 8, 3), 255, np.uint8)
        zoom = np.concatenate([full, gap, cells], axis=1)
        thumbs = []
        acts = s.activation_maps()
        for i, t in enumerate(taps):
            a = acts[t.name]
            th = heatmap(a)
            cy, cx = t.cell_coordinate(yw), t.cell_coordinate(xw)
            th = thumb(th, 96)
            f = th.shape[0] / a.shape[0]
            th = draw_points(
                th, np.array([[(cy + 0.5) * f, (cx + 0.5) * f]]), colour=TAP_COLOURS[i % 8], radius=3
            )
            thumbs.append((th, f"{t.name} (stride {t.stride}, RF {rf.get(t.name, '?')} px)"))
        tasks = d["tasks"]
        seg_label = normal_html = edge_md = None
        seg_bar = normals_bar = edges_bar = None
        teacher = "seg" in tasks and tasks["seg"].get("kind") == "reference"
        where = "seg" in tasks and tasks["seg"].get("kind") == "where"
        if "seg" in tasks:
            p = tasks["seg"]["prediction"]
            seg_label = {c: float(v) for c, v in zip(p["classes"], p["probs"])}
            explained = tasks["seg"]["where"] if where else p  # a where model's taps explain its own classes
            top = explained["top_index"]
            if not teacher:  # the raw teacher has no taps: no bars
                contrib = [row[top] for row in tasks["seg"]["contributions"]]
                seg_bar = bar_frame(tasks["seg"]["taps"], contrib, f"P({explained['top']})")
        if "normals" in tasks:
            p = tasks["normals"]["prediction"]
            r, g, b = (int(v) for v in normals_to_rgb(np.array(p["normal"]))[:3])
            normal_html = (
                f'<div style="display:flex;gap:10px;align-items:center"><div style="width:40px;height:40px;'
                f'background:rgb({r},{g},{b});border:1px solid #888"></div><div>n = ({p["normal"][0]:+.2f}, '
                f"{p['normal'][1]:+.2f}, {p['normal'][2]:+.2f})<br>slant {p['slant']:.0f}° from the view "
                f"direction, tilt {p['tilt']:.0f}°<br><small>x right, y down, z towards the camera</small>"
                f"</div></div>"
            )
            rows = tasks["normals"]["contributions"]
            frames = [
                bar_frame([f"{t} {c}" for t in tasks["normals"]["taps"]], [row[j] for row in rows], c)
                for j, c in enumerate(("nx", "ny", "nz"))
            ]
            normals_bar = pd.concat(frames, ignore_index=True)
        hed = "edges" in tasks and tasks["edges"].get("kind") == "reference"
        if hed:
            e = tasks["edges"]
            edge_md = hed_terms_markdown(e, d["x"], d["y"])
            edges_bar = bar_frame([*e["taps"], "bias"], [row[0] for row in e["contributions"]] + [e["bias"]],
                                  "HED fused logit")
        elif "edges" in tasks:
            p = tasks["edges"]["prediction"]
            edge_md = f"**Edge probability** at ({d['x']}, {d['y']}): **{p['prob']:.3f}**"
            edges_bar = bar_frame(
                tasks["edges"]["taps"], [row[0] for row in tasks["edges"]["contributions"]], "P(edge)"
            )
        summary = (
            f"Pixel **({d['x']}, {d['y']})** of the original image (RGB {tuple(d['rgb'])}). "
            f"Contributions are exact Shapley values over the taps; baseline: {d['baseline']}. "
            "They add up to prediction minus baseline prediction."
            + (" Edges come from HED: its bars are the side outputs' exact terms of the fused logit." if hed else "")
            + (" Segmentation comes from the raw ImageNet teacher: it has no taps, so no seg bars." if teacher else "")
            + (" The bars of " + ", ".join(t for t, v in tasks.items() if v.get("tta"))
               + " explain the plain pass (test scale 1, not mirrored); the panels average it with the model's "
               "test-time augmentation, so their value here may differ slightly."
               if any(v.get("tta") for v in tasks.values()) else "")
        )
        imagenet_md = imagenet_markdown(d.get("imagenet"))
        if teacher or where:
            note = (teacher_seg_markdown if teacher else where_seg_markdown)(tasks["seg"], d["x"], d["y"])
            imagenet_md = note + ("\n\n" + imagenet_md if imagenet_md else "")
        return (zoom, thumbs, seg_label, normal_html, edge_md, seg_bar, normals_bar, edges_bar, summary, imagenet_md)


def build(app: InspectorTab, view: MainView) -> None:
    """Lay out the tab (inside the current ``gr.Tab``) and wire the click and the ``inspect`` API."""
    tap_names = view.tap_names
    with gr.Row():
        x_in = gr.Number(label="x (original pixels)", precision=0, elem_id="inspect-x")
        y_in = gr.Number(label="y (original pixels)", precision=0, elem_id="inspect-y")
        inspect_btn = gr.Button("Inspect pixel")
    summary = gr.Markdown(elem_id="inspect-summary")
    with gr.Row():
        zoom = SafeImage(
            label="Zoom-out: receptive fields (dashed), cells (solid); right: cells magnified",
            interactive=False,
        )
        thumbs = SafeGallery(label="Tap activation strength (pixel marked)", columns=3, height=320)
    with gr.Row():
        seg_label = gr.Label(label="Class probabilities", num_top_classes=5)
        imagenet_md = gr.Markdown(elem_id="inspect-imagenet")
        with gr.Column():
            normal_html = gr.HTML(label="Normal")
            edge_md = gr.Markdown()
    with gr.Row():
        seg_bar = gr.BarPlot(
            x="tap",
            y="contribution",
            color="output",
            sort=tap_names,
            label="Tap contributions to the top class probability",
        )
        normals_bar = gr.BarPlot(
            x="tap",
            y="contribution",
            color="output",
            x_label_angle=-40,
            sort=[f"{t} {c}" for c in ("nx", "ny", "nz") for t in tap_names],
            label="Tap contributions to the normal (nx, ny, nz)",
        )
        edges_bar = gr.BarPlot(
            x="tap",
            y="contribution",
            color="output",
            sort=[*tap_names, *HED_SIDES, "bias"],
            label="Tap contributions to the edge probability (HED: side outputs' terms of the fused logit)",
        )
    result = gr.JSON(label="inspect result (the /inspect API returns this)", open=False)
    view.extra["inspect_xy"] = (x_in, y_in)

    view_outputs = [zoom, thumbs, seg_label, normal_html, edge_md, seg_bar, normals_bar, edges_bar, summary,
                    imagenet_md]
    view.clickable.select(
        app.on_select,
        [view.image_in, *view.models_in, view.taps],
        [x_in, y_in, *view_outputs, result],
        preprocess=False,
        api_visibility="private",
        trigger_mode="always_last",
    )
    inspect_btn.click(
        app.inspect,
        [view.image_in, x_in, y_in, *view.models_in, view.taps],
        result,
        preprocess=False,
        api_name="inspect",
    ).success(
        app.inspect_view,
        [view.image_in, x_in, y_in, *view.models_in, view.taps],
        view_outputs,
        preprocess=False,
        api_visibility="private",
    )
