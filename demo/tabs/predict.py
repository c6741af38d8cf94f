"""The main view: input image, model choice, the three dense outputs, ground truth and metrics.

``build`` lays out the view above the tabs and returns its components (:class:`MainView`);
``wire`` connects its events once every tab exists (a new prediction refreshes the tap maps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch

from demo.explorer import Session
from demo.gradio_compat import SafeGallery, SafeImage, on_model_thread, user_errors
from demo.tabs.base import TabBase, check_taps
from pixelnet.tasks import TASKS
from pixelnet.visualize import (
    class_palette,
    colorize_labels,
    edges_to_rgb,
    legend_html,
    normals_to_rgb,
    overlay,
    seg_labels,
)

__all__ = ["MainView", "PredictTab", "build", "wire"]


class PredictTab(TabBase):
    """Callbacks of the main view."""

    # ---- predict -------------------------------------------------------------------
    @staticmethod
    def _augmentation_note(s: Any) -> str:
        """The test-time augmentation the session's models record (``ModelConfig.tta_*``), in words."""
        parts = []
        for task, model in s.models.items():
            config = getattr(model, "config", None)
            extra = []
            if getattr(config, "tta_scales", None):
                extra.append("at " + ", ".join(f"{r:g}" for r in config.tta_scales) + " of each scale")
            if getattr(config, "tta_mirror", False):
                extra.append("also mirrored")
            if extra:
                word = "where" if getattr(config, "what", None) else {"seg": "segmentation"}.get(task, task)
                parts.append(f"{word} {' and '.join(extra)}, averaged")
        return f" ({'; '.join(parts)})" if parts else ""

    @user_errors
    @on_model_thread
    def predict(
        self,
        image: Any,
        seg_model: str | None = None,
        normals_model: str | None = None,
        edges_model: str | None = None,
        multiscale: bool = False,
        taps_on: Sequence[str] | None = None,
        opacity: float = 0.5,
    ) -> tuple[Any, ...]:
        """All three dense outputs of an uploaded image.

        Returns:
            (working image to click on, seg overlay, seg legend HTML, normals RGB, edge
            probabilities, thinned (NMS) edges, ground-truth gallery, metrics Markdown, notes).
        """
        from pixelnet.metrics import edge_nms

        with self.explorer.lock:
            s = self._session(image, seg_model, normals_model, edges_model)
            all_taps = s.all_taps()
            taps_on = check_taps(taps_on, all_taps)
            ablate = [] if taps_on is None else [t for t in all_taps if t not in set(taps_on)]
            out = s.predict(multiscale=bool(multiscale), ablate=ablate)
        img = s.image
        seg_rgb = legend = None
        if "seg" in out:
            names = s.seg_class_names() or []
            pal = class_palette(len(names))
            labels = seg_labels(out["seg"], names)  # unsure pixels of a category model read "other"
            seg_rgb = overlay(img, colorize_labels(labels, pal), float(opacity))
            frac = np.bincount(labels.ravel(), minlength=len(names)) / labels.size
            legend = legend_html(names, pal, fractions=frac.tolist(), min_fraction=0.005 if len(names) > 12 else 0.0)
        normals_rgb = normals_to_rgb(out["normals"]) if "normals" in out else None
        edges_rgb = nms_rgb = None
        if "edges" in out:
            edges_rgb = edges_to_rgb(out["edges"])
            thin = edge_nms(out["edges"])
            nms_rgb = edges_to_rgb(thin / max(float(thin.max()), 1e-6))
        gt_gallery, metrics = self._ground_truth(s, out)
        labels = [seg_model or "", normals_model or "", edges_model or ""]
        labels = [lab or self.bank.default(t) for lab, t in zip(labels, TASKS)]
        h0, w0 = s.original_size
        notes = [
            f"Image {w0}x{h0}"
            + (f", shown and predicted at {img.shape[1]}x{img.shape[0]}" if s.scale < 1 else "")
            + ".",
            f"Taps off (replaced by their image mean): {', '.join(ablate)}." if ablate else "",
            self._reference_note(s, ablate),
            "Test scales: " + ("0.5, 1, 1.5" if multiscale else "1") + self._augmentation_note(s) + ".",
            self.model_note(labels),
        ]
        return (
            img,
            seg_rgb,
            legend,
            normals_rgb,
            edges_rgb,
            nms_rgb,
            gt_gallery,
            metrics,
            "\n\n".join(n for n in notes if n),
        )

    @staticmethod
    def _reference_note(s: Session, ablate: Sequence[str]) -> str:
        """What the seg and edges panels show when their choice is a reference model (the raw teacher, HED) or
        a *where* model."""
        unchanged = "; switching taps off does not change it" if ablate else ""
        notes = []
        if s.reference_seg is not None:
            notes.append(f"Segmentation: **{s.reference_seg.label}**, the backbone's own ImageNet classifier at every "
                         f"cell of its `head` tap, its 1,000 classes summed into {len(s.reference_seg.class_names)} "
                         f"categories (a reference model, not a PixelNet: no taps{unchanged}).")
        if s.where_seg is not None:
            notes.append("Segmentation: a *where* model (background, object, person) whose objects are named by the "
                         "backbone's own ImageNet classifier on the same `head` tap: categories and person"
                         + ("; switching taps off changes the *where* part only, not the categories." if ablate
                            else "."))
        if s.reference_edges is not None:
            notes.append(f"Edges: **{s.reference_edges.label}**, HED's fused edge map (a reference model, not a "
                         f"PixelNet{unchanged}).")
        return "\n\n".join(notes)

    def _ground_truth(self, s: Session, out: dict[str, np.ndarray]) -> tuple[list[Any], str]:
        gt = self.explorer.ground_truth_of(s.image)
        if gt is None:
            return [], "*No ground truth for this image (SynthScenes examples have it).*"
        from pixelnet.metrics import EdgeMeter, NormalsMeter, SegMeter

        gallery: list[Any] = []
        rows = ["| task | metric | value |", "|---|---|---|"]
        seg_names = s.seg_class_names()
        same_classes = gt.get("classes") in (None, seg_names) if seg_names is not None else False
        if "seg" in gt and "seg" in out and not same_classes:
            rows.append("| seg | - | model classes differ from the ground truth's |")
        if "seg" in gt and "seg" in out and same_classes:
            k = out["seg"].shape[0]
            gallery.append((colorize_labels(gt["seg"], class_palette(k)), "GT segmentation"))
            m = SegMeter(k)
            m.update(torch.from_numpy(out["seg"].argmax(0)), torch.from_numpy(gt["seg"].astype(np.int64)))
            r = m.compute()
            rows += [
                f"| seg | pixel acc | {100 * r['pixel_acc']:.1f}% |",
                f"| seg | mIoU | {100 * r['miou']:.1f}% |",
            ]
        if "normals" in gt and "normals" in out:
            gallery.append((normals_to_rgb(gt["normals"]), "GT normals"))
            m = NormalsMeter()
            valid = torch.from_numpy(gt["valid"].astype(bool)) if "valid" in gt else None
            m.update(
                torch.from_numpy(out["normals"]).permute(2, 0, 1),
                torch.from_numpy(gt["normals"].astype(np.float32)).permute(2, 0, 1),
                valid,
            )
            r = m.compute()
            rows += [
                f"| normals | mean angle | {r['mean']:.1f}° |",
                f"| normals | median angle | {r['median']:.1f}° |",
            ]
        if "edges" in gt and "edges" in out:
            e = gt["edges"].astype(np.uint8)
            gallery.append((edges_to_rgb((e == 1).astype(np.float32)), "GT edges"))
            m = EdgeMeter(thresholds=19)
            m.update(out["edges"], e == 1)
            rows.append(f"| edges | F (ODS, this image) | {m.compute()['ods']:.3f} |")
        return gallery, "\n".join(rows)

    @user_errors
    @on_model_thread
    def taps_of(self, seg_model: str | None, normals_model: str | None, edges_model: str | None) -> Any:
        """The tap checkboxes for a model choice: every tap of the chosen PixelNet models, all on
        (changing them then re-runs the prediction; a reference model such as HED or the raw teacher has no
        taps)."""
        labels = {"seg": seg_model, "normals": normals_model, "edges": edges_model}
        names: dict[str, int] = {}
        for task, label in labels.items():
            if task in self.bank.choices and not self.bank.is_reference(task, label):
                for t in self._model(task, label).taps:
                    names.setdefault(t.name, t.stride)
        ordered = sorted(names, key=lambda n: names[n])
        return gr.update(choices=ordered, value=ordered)

    def predict_or_clear(self, image: Any, *rest: Any) -> tuple[Any, ...]:
        """UI trigger: like :meth:`predict`, but a cleared input clears the outputs."""
        if image is None:
            return (None, None, "", None, None, None, [], "", "")
        return self.predict(image, *rest)


@dataclass
class MainView:
    """The components every tab reads: the upload, the model choice, the taps, the clickable image."""

    image_in: gr.Image
    models_in: list[gr.Dropdown]
    multiscale: gr.Checkbox
    taps: gr.CheckboxGroup
    opacity: gr.Slider
    run: gr.Button
    clickable: SafeImage
    outputs: list[Any]
    tap_names: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> list[Any]:
        """Inputs of :meth:`PredictTab.predict`."""
        return [self.image_in, *self.models_in, self.multiscale, self.taps, self.opacity]


def build(app: PredictTab, *, tap_names: Sequence[str], examples: Sequence[Path], defaults: Sequence[str]) -> MainView:
    """Lay out the main view (inside the current ``gr.Blocks``)."""
    bank = app.bank
    tap_names = list(tap_names)
    gr.Markdown(app.model_note(defaults))
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            image_in = gr.Image(
                label="Input image",
                type="filepath",
                sources=["upload", "webcam"],
                elem_id="image-in",
                height=260,
            )
            if examples:
                gr.Examples(
                    [[str(p)] for p in examples],
                    inputs=[image_in],
                    label="Examples",
                    examples_per_page=12,
                )
            with gr.Accordion("Settings", open=True):
                seg_m = gr.Dropdown(bank.labels("seg"), value=defaults[0], label="Segmentation model")
                normals_m = gr.Dropdown(bank.labels("normals"), value=defaults[1], label="Normals model")
                edges_m = gr.Dropdown(bank.labels("edges"), value=defaults[2], label="Edges model")
                multiscale = gr.Checkbox(False, label="Multi-scale test (0.5, 1, 1.5)")
                taps = gr.CheckboxGroup(tap_names, value=tap_names, label="Taps used (off = ablated)")
                opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Overlay opacity")
            run = gr.Button("Predict", variant="primary")
        with gr.Column(scale=2):
            clickable = SafeImage(
                label="Click a pixel to inspect it", interactive=False, elem_id="clickable", buttons=[]
            )
            info = gr.Markdown()
    with gr.Row(equal_height=True):
        seg_out = SafeImage(label="Segmentation (overlay)", interactive=False)
        normals_out = SafeImage(label="Surface normals (RGB = (n+1)/2)", interactive=False)
        edges_out = SafeImage(label="Edge probability", interactive=False)
        nms_out = SafeImage(label="Edges, thinned (NMS)", interactive=False)
    legend = gr.HTML(elem_id="seg-legend")
    with gr.Accordion("Ground truth and metrics (SynthScenes examples)", open=False):
        with gr.Row():
            gt_gallery = SafeGallery(label="Ground truth", columns=3, height=220)
            metrics = gr.Markdown()
    outputs = [clickable, seg_out, legend, normals_out, edges_out, nms_out, gt_gallery, metrics, info]
    return MainView(
        image_in=image_in,
        models_in=[seg_m, normals_m, edges_m],
        multiscale=multiscale,
        taps=taps,
        opacity=opacity,
        run=run,
        clickable=clickable,
        outputs=outputs,
        tap_names=tap_names,
    )


def wire(app: PredictTab, view: MainView, *, then: Sequence[tuple[Callable[..., Any], list[Any], Any]] = ()) -> None:
    """Connect the main view's events. ``then``: ``(fn, inputs, outputs)`` run after each successful
    prediction (each tab's view of the same image)."""

    def chain(dep: Any) -> None:
        for fn, inputs, outputs in then:
            dep.success(fn, inputs, outputs, preprocess=False, api_visibility="private")

    chain(view.run.click(app.predict, view.inputs, view.outputs, api_name="predict", preprocess=False))
    chain(
        gr.on(
            [view.image_in.change, view.multiscale.change, view.taps.input, view.opacity.release],
            app.predict_or_clear,
            view.inputs,
            view.outputs,
            preprocess=False,
            api_visibility="private",
            trigger_mode="always_last",
        )
    )
    gr.on(
        [m.change for m in view.models_in],
        app.taps_of,
        view.models_in,
        view.taps,
        api_visibility="private",
        trigger_mode="always_last",
    ).success(app.predict_or_clear, view.inputs, view.outputs, preprocess=False, api_visibility="private")
