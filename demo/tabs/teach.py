"""The "Teach" tab: paint a few strokes per class, train a PixelNet head on them in about a second,
and get a segmentation of this image (and of any other, through the Segmentation model dropdown).

The training is :func:`pixelnet.teach.scribbles.fit_scribbles` on the tap maps the explorer has
already cached for the image (frozen backbone of the default segmentation model, same taps), on
the explorer's model thread like every other model call. Taught heads are kept per browser session
(:class:`demo.taught.TaughtStore`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from demo.explorer import read_upload
from demo.gradio_compat import SafeImage, on_model_thread, user_errors
from demo.tabs.base import TabBase
from demo.tabs.predict import MainView
from demo.taught import current_session
from pixelnet.io import save_model
from pixelnet.outputs import label_png_bytes, model_zip_bytes, read_label_png
from pixelnet.teach import MAX_CLASSES, ScribbleError, fit_scribbles, predict_seg, uncertainty
from pixelnet.visualize import class_palette, colorize_labels, heatmap, legend_html, overlay, seg_labels

__all__ = ["DEFAULT_CLASSES", "TeachTab", "build", "parse_classes", "strokes_to_labels"]

DEFAULT_CLASSES = "object, background"
SEED_MIN_SHARE = 0.02  # a class of the segmentation becomes a Teach class from this share of the image
SEED_CONFIDENCE = 0.6  # the seed marks pixels whose top probability is at least this
SEED_SPACING = 6  # one seed dot every this many pixels
ALPHA_MIN = 128  # a painted pixel: the stroke layer is at least half opaque there


def parse_classes(text: str | None) -> list[str]:
    """``"cat, sofa, floor"`` -> the class names (2 to 10, distinct).

    Raises:
        gr.Error: fewer than 2, more than 10, or repeated names.
    """
    names = [t.strip() for t in str(text or "").split(",") if t.strip()]
    if not 2 <= len(names) <= MAX_CLASSES:
        raise gr.Error(f"name 2 to {MAX_CLASSES} classes, separated by commas (got {len(names)})")
    if len(set(names)) != len(names):
        raise gr.Error(f"class names must be distinct: {names}")
    return names


def palette_hex(num_classes: int) -> list[str]:
    """The brush colours of the classes (the seg palette, so overlays match the strokes)."""
    return ["#" + "".join(f"{int(v):02x}" for v in c) for c in class_palette(num_classes)]


def strokes_to_labels(layers: Sequence[np.ndarray], size: tuple[int, int], num_classes: int) -> np.ndarray:
    """Painted layers -> an ``(H, W)`` uint8 label map: 0 unpainted, k = class k (nearest brush colour).

    Args:
        layers: RGBA ``(h, w, 4)`` stroke layers (later layers paint over earlier ones); other sizes are
            resized (nearest) to ``size``.
        size: ``(H, W)`` of the image.
        num_classes: K; brush colour k-1 of :func:`palette_hex` is class k.
    """
    h, w = size
    out = np.zeros((h, w), np.uint8)
    pal = class_palette(num_classes).astype(np.int32)  # (K, 3)
    for layer in layers:
        if layer is None:
            continue
        arr = np.asarray(layer)
        if arr.ndim != 3 or arr.shape[2] != 4:
            continue  # a layer without alpha carries no strokes
        if arr.shape[:2] != (h, w):
            arr = np.asarray(Image.fromarray(arr.astype(np.uint8)).resize((w, h), Image.NEAREST))
        painted = arr[..., 3] >= ALPHA_MIN
        if not painted.any():
            continue
        rgb = arr[painted, :3].astype(np.int32)
        nearest = ((rgb[:, None, :] - pal[None]) ** 2).sum(-1).argmin(1)
        out[painted] = nearest.astype(np.uint8) + 1
    return out


def _resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if labels.shape == size:
        return labels
    return np.asarray(Image.fromarray(labels).resize((size[1], size[0]), Image.NEAREST))


class TeachTab(TabBase):
    """Callbacks of the Teach tab."""

    downloads: Path | None = None

    def _download_dir(self, session: str) -> Path:
        if self.downloads is None:
            self.downloads = Path(tempfile.mkdtemp(prefix="pixelnet-teach-"))
        d = self.downloads / "".join(ch for ch in session if ch.isalnum())[:40]
        d.mkdir(parents=True, exist_ok=True)
        folders = sorted(self.downloads.iterdir(), key=lambda p: p.stat().st_mtime)
        for old in folders[: -2 * self.taught.max_sessions]:  # bounded on disk like the store in memory
            shutil.rmtree(old, ignore_errors=True)
        return d

    def class_legend(self, classes_text: str | None) -> tuple[str, Any]:
        """Legend of the brush colours and the canvas brush for the class list."""
        try:
            names = parse_classes(classes_text)
        except gr.Error as e:
            return f"<b>{e}</b>", gr.update()
        colours = palette_hex(len(names))
        brush = gr.Brush(colors=colours, default_color=colours[0], color_mode="fixed", default_size=6)
        return legend_html(names, class_palette(len(names))), gr.update(brush=brush)

    def canvas_of(self, image: Any) -> Any:
        """Put the main image on the canvas (strokes cleared)."""
        if image is None:
            return None
        rgb = read_upload(image)
        return {"background": rgb, "layers": [], "composite": rgb}

    @user_errors
    @on_model_thread
    def start_from_segmentation(self, image: Any, seg_model: str | None = None) -> tuple[Any, ...]:
        """Seed the canvas with the current segmentation, so that strokes only correct it.

        The classes become those covering at least :data:`SEED_MIN_SHARE` of the image (at most 10,
        largest first), and the canvas layer gets a sparse grid of dots in their brush colours at
        the pixels the model is sure of (:data:`SEED_CONFIDENCE`); painting over or erasing them
        corrects the seed, and training reads dots and strokes alike.

        Returns:
            (class list text, canvas value, status Markdown).
        """
        if image is None:
            raise gr.Error("upload an image first")
        with self.explorer.lock:
            s = self._session(image, seg_model, None, None)
            names = s.seg_class_names()
            if names is None:
                raise gr.Error("the chosen models have no segmentation to start from")
            probs = s.predict()["seg"]
            rgb = s.image
        labels = seg_labels(probs, names)
        share = np.bincount(labels.ravel(), minlength=len(names)) / labels.size
        keep = [int(k) for k in np.argsort(-share) if share[k] >= SEED_MIN_SHARE][:MAX_CLASSES]
        if len(keep) < 2:
            raise gr.Error("the segmentation has fewer than two classes here; name the classes and paint instead")
        sure = probs.max(0) >= SEED_CONFIDENCE
        grid = np.zeros(labels.shape, bool)
        grid[::SEED_SPACING, ::SEED_SPACING] = True
        layer = np.zeros((*labels.shape, 4), np.uint8)
        pal = class_palette(len(keep))
        for i, k in enumerate(keep):
            dots = grid & sure & (labels == k)
            layer[dots, :3], layer[dots, 3] = pal[i], 255
        layer = np.maximum(layer, np.roll(layer, 1, axis=1))  # 2-px dots, easy to see and to erase
        shown = [f"{names[k]} {100 * share[k]:.0f}%" for k in keep]
        status = (f"Started from the segmentation: {', '.join(shown)}. The dots mark pixels it is sure of; "
                  "paint over them or erase them where "
                  "they are wrong, add strokes where it missed, then **Train**.")
        return (", ".join(names[k] for k in keep), {"background": rgb, "layers": [layer], "composite": rgb},
                status)

    @user_errors
    def teach_strokes(self, editor: Any, classes_text: str | None, opacity: float = 0.5) -> tuple[Any, ...]:
        """Train from the canvas: its background is the image, its layers the strokes."""
        if not editor or editor.get("background") is None:
            raise gr.Error("put an image on the canvas first (upload one above, or use the current image)")
        names = parse_classes(classes_text)
        bg = np.asarray(editor["background"])
        rgb = read_upload(bg[..., :3] if bg.ndim == 3 else bg)
        labels = strokes_to_labels(editor.get("layers") or [], rgb.shape[:2], len(names))
        return self.teach(rgb, labels, names, opacity)

    def auto_teach(self, on: bool, editor: Any, classes_text: str | None, opacity: float = 0.5) -> tuple[Any, ...]:
        """Canvas change with "retrain after each stroke" on: train once strokes of two classes exist."""
        keep = (gr.update(),) * 7
        if not on or not editor or editor.get("background") is None:
            return keep
        try:
            names = parse_classes(classes_text)
        except gr.Error:
            return keep
        bg = np.asarray(editor["background"])
        labels = strokes_to_labels(editor.get("layers") or [], bg.shape[:2], len(names))
        if len(np.unique(labels[labels > 0])) < 2:
            return keep  # not yet two classes painted
        return self.teach_strokes(editor, classes_text, opacity)

    @user_errors
    def teach_png(
        self, image: Any, labels_file: Any, classes_text: str | None, opacity: float = 0.5
    ) -> tuple[Any, ...]:
        """API ``teach``: train from an image and an index label PNG (0 unlabelled, k = class k)."""
        if image is None:
            raise gr.Error("upload an image first")
        if labels_file is None:
            raise gr.Error("give a label PNG (0 = unlabelled, k = class k)")
        path = labels_file.get("path") if isinstance(labels_file, dict) else labels_file
        labels = read_label_png(path)
        return self.teach(read_upload(image), labels, parse_classes(classes_text), opacity)

    @on_model_thread
    def teach(
        self, rgb: np.ndarray, labels: np.ndarray, names: list[str], opacity: float = 0.5
    ) -> tuple[Any, ...]:
        """Train a head on ``labels`` of ``rgb`` and show it.

        Args:
            rgb: ``(H, W, 3)`` uint8 image.
            labels: ``(H, W)`` label map, 0 = unlabelled, k = class k.
            names: the K class names.

        Returns:
            (overlay, uncertainty map, per-class counts frame, status Markdown, model zip path,
            label PNG path, Segmentation dropdown update).
        """
        if labels.shape != rgb.shape[:2]:
            raise gr.Error(f"the label image is {labels.shape[1]}x{labels.shape[0]} but the image is "
                           f"{rgb.shape[1]}x{rgb.shape[0]}")
        seg = None  # default models (their tap maps are cached for this image); the first PixelNet seg choice
        if self.bank.is_reference("seg"):  # when the default is the raw teacher (--model imagenet-dense)
            seg = next((lab for lab in self.bank.labels("seg") if not self.bank.is_reference("seg", lab)), None)
        with self.explorer.lock:
            s = self.explorer.session(rgb, {"seg": seg} if seg else None)
            base = s.models.get("seg") or next(iter(s.models.values()))
            work = _resize_labels(labels, s.image.shape[:2])
            feats = dict(s.predictor.features(base.task))
            try:
                result = fit_scribbles([s.image], [work], class_names=names, backbone=base.config.backbone,
                                       shared_backbone=base.backbone, backbone_kwargs=base.config.backbone_kwargs,
                                       taps=[t.name for t in base.taps], features=[feats],
                                       device=self.explorer.device)
            except ScribbleError as e:
                raise gr.Error(str(e)) from None
            size = s.predictor.input_size(1.0)
            probs = predict_seg(result.model, feats, size)
        if probs.shape[1:] != s.image.shape[:2]:
            import torch
            import torch.nn.functional as F

            probs = F.interpolate(torch.from_numpy(probs)[None], size=s.image.shape[:2], mode="bilinear",
                                  align_corners=False)[0].numpy()
        session = current_session()
        label = self.taught.add(session, result.model, labels)
        pal = class_palette(len(names))
        shown = overlay(s.image, colorize_labels(probs.argmax(0), pal), float(opacity))
        unsure = heatmap(uncertainty(probs), vmax=1.0)
        counts = pd.DataFrame({"class": names, "labelled pixels": [int(c) for c in result.counts]})
        d = self._download_dir(session)
        model_dir = d / "model"
        # a head on the registry's pretrained backbone stores only the head; any other keeps its backbone
        save_model(result.model, model_dir, backbone=getattr(base, "backbone_weights", "include"))
        zip_path = d / "pixelnet-taught-model.zip"
        zip_path.write_bytes(model_zip_bytes(model_dir))
        png_path = d / "labels.png"
        png_path.write_bytes(label_png_bytes(labels, len(names)))
        total = sum(result.counts)
        per_class = ", ".join(f"{n} {c}" for n, c in zip(names, result.counts))
        status = (f"Trained **{label}** on {total} labelled pixels ({per_class}) "
                  f"in {result.seconds:.2f} s ({len(result.losses)} steps, loss {result.losses[0]:.2f} → "
                  f"{result.losses[-1]:.3f}). It is now in the Segmentation model list for this browser session. "
                  "Paint more where the uncertainty map is bright.")
        choices = self.bank.labels("seg") + self.taught.labels_of(session)
        return shown, unsure, counts, status, str(zip_path), str(png_path), gr.update(choices=choices, value=label)


def build(app: TeachTab, view: MainView) -> None:
    """Lay out the Teach tab and wire it (the ``teach`` API takes an image and a label PNG)."""
    gr.Markdown(
        "Paint a few strokes of each class on the image, then **Train**: a PixelNet head learns from just "
        "those pixels (their hypercolumns on the frozen ImageNet backbone, sampled as in the paper) and "
        "segments every pixel. Name 2 to 10 classes; brush colour *k* is class *k*."
    )
    with gr.Row():
        classes = gr.Textbox(DEFAULT_CLASSES, label="Classes (comma-separated; add, rename or remove here)",
                             elem_id="teach-classes", scale=3)
        auto = gr.Checkbox(False, label="Retrain after each stroke", scale=1)
        train = gr.Button("Train", variant="primary", elem_id="teach-train", scale=1)
        use_image = gr.Button("Use the current image", scale=1)
        seed = gr.Button("Start from the segmentation", scale=1, elem_id="teach-seed")
    legend = gr.HTML(legend_html(parse_classes(DEFAULT_CLASSES), class_palette(2)))
    colours = palette_hex(2)
    with gr.Row():
        canvas = gr.ImageEditor(
            label="Paint strokes (eraser removes them)",
            type="numpy",
            image_mode="RGBA",
            sources=["upload", "clipboard"],
            transforms=(),
            layers=False,
            brush=gr.Brush(colors=colours, default_color=colours[0], color_mode="fixed", default_size=6),
            eraser=gr.Eraser(),
            elem_id="teach-canvas",
            height=420,
        )
        with gr.Column():
            seg = SafeImage(label="Taught segmentation", interactive=False, elem_id="teach-seg")
            unsure = SafeImage(label="Uncertainty (normalised entropy: paint where it is bright)", interactive=False)
    with gr.Row():
        counts = gr.BarPlot(x="class", y="labelled pixels", label="Labelled pixels per class")
        with gr.Column():
            status = gr.Markdown(elem_id="teach-status")
            model_file = gr.File(label="Model (model.safetensors + config.json, zip)", interactive=False)
            labels_file = gr.File(label="Label mask (index PNG: 0 unlabelled, k = class k)", interactive=False)
    with gr.Accordion("Train from a label PNG instead (the `teach` API)", open=False):
        labels_in = gr.File(label="Label PNG of the input image's size", file_types=[".png"], type="filepath")
        train_png = gr.Button("Train from the label PNG")
    outputs = [seg, unsure, counts, status, model_file, labels_file, view.models_in[0]]

    classes.change(app.class_legend, classes, [legend, canvas], api_visibility="private")
    view.image_in.change(app.canvas_of, view.image_in, canvas, preprocess=False, api_visibility="private")
    use_image.click(app.canvas_of, view.image_in, canvas, preprocess=False, api_visibility="private")
    seed.click(app.start_from_segmentation, [view.image_in, view.models_in[0]], [classes, canvas, status],
               preprocess=False, api_visibility="private")
    train.click(app.teach_strokes, [canvas, classes, view.opacity], outputs, api_visibility="private",
                concurrency_id="teach")
    canvas.change(app.auto_teach, [auto, canvas, classes, view.opacity], outputs, api_visibility="private",
                  trigger_mode="always_last", concurrency_id="teach")
    train_png.click(app.teach_png, [view.image_in, labels_in, classes, view.opacity], outputs,
                    api_name="teach", concurrency_id="teach")
