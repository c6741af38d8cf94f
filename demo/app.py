"""PixelNet Explorer: see all three PixelNet tasks on an image and click a pixel to see
where its prediction comes from (which taps of the hypercolumn, at which scale).

Run ``python demo/app.py`` (binds 127.0.0.1:7860; ``--help`` for options). The UI is
built by :func:`build_demo`; the computations live in :mod:`demo.explorer` and the
``pixelnet`` library. Scripting: the endpoints ``/predict`` (image -> the three maps)
and ``/inspect`` (image, x, y -> a JSON dict of per-task predictions and exact per-tap
Shapley contributions) work with ``gradio_client`` (see ``docs/demo.md``).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls home

import argparse  # noqa: E402
import functools  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

if __package__ in (None, ""):  # `python demo/app.py`: make `demo` importable (repo root, once)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.explorer import Explorer, Session, read_upload, single_thread  # noqa: E402
from demo.models import FALLBACK_LABEL, REPO, ModelBank, discover_models  # noqa: E402
from pixelnet.image import ImageError  # noqa: E402
from pixelnet.io import ModelFileError  # noqa: E402
from pixelnet.tasks import TASKS  # noqa: E402
from pixelnet.visualize import (  # noqa: E402
    TAP_COLOURS,
    class_palette,
    colorize_labels,
    draw_points,
    draw_zoom_out,
    edges_to_rgb,
    heatmap,
    legend_html,
    magnified_cells,
    normals_to_rgb,
    overlay,
    receptive_field_sizes,
    seg_to_rgb,
)

__all__ = ["ExplorerApp", "build_demo", "get_args_parser", "launch", "main"]

log = logging.getLogger("pixelnet.demo")
EXAMPLES = REPO / "assets" / "examples"
MAX_FILE_SIZE = "20mb"
ZOOM_SIDE = 512  # the zoom-out view is drawn on a copy at most this large
SAMPLERS = ("uniform", "stratified", "biased")
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
    """Run an :class:`ExplorerApp` method on its explorer's model thread (:meth:`Explorer.run`)."""

    @functools.wraps(fn)
    def wrapper(self: ExplorerApp, *args: Any, **kwargs: Any) -> Any:
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


def _check_taps(taps_on: Sequence[str] | None, available: Sequence[str]) -> list[str] | None:
    """Validate a tap selection against the current models' taps (None: all taps on)."""
    if taps_on is None:
        return None
    unknown = [t for t in taps_on if t not in available]
    if unknown:
        raise gr.Error(f"unknown taps {unknown}; the selected models have taps {list(available)}")
    if not taps_on:
        raise gr.Error("switch on at least one tap")
    return list(taps_on)


def _bar_frame(taps: Sequence[str], values: Sequence[float], label: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"tap": list(taps), "contribution": [float(v) for v in values], "output": [label] * len(taps)}
    )


def _thumb(img: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    s = side / max(h, w)
    return np.asarray(
        Image.fromarray(img).resize((max(1, round(w * s)), max(1, round(h * s))), Image.NEAREST)
    )


def _to_height(img: np.ndarray, height: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    if h == height:
        return img
    return np.asarray(Image.fromarray(img).resize((max(1, round(w * height / h)), height), Image.NEAREST))


class ExplorerApp:
    """The callbacks of the UI, testable without a browser.

    Args:
        explorer: sessions and models.
    """

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self.bank = explorer.bank

    # ---- helpers -------------------------------------------------------------------
    def _session(self, image: Any, seg: str | None, normals: str | None, edges: str | None) -> Session:
        rgb = read_upload(image)
        return self.explorer.session(rgb, {"seg": seg or "", "normals": normals or "", "edges": edges or ""})

    def model_note(self, labels: Sequence[str]) -> str:
        if any(lab == FALLBACK_LABEL for lab in labels):
            return (
                "**Untrained models**: some tasks use an *untrained head on the ImageNet "
                "efficientnet_lite0 backbone* (no trained model found in `assets/models/` or `runs/`). "
                "Their outputs show the mechanics, not learned predictions."
            )
        return ""

    # ---- predict -------------------------------------------------------------------
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
            taps_on = _check_taps(taps_on, all_taps)
            ablate = [] if taps_on is None else [t for t in all_taps if t not in set(taps_on)]
            out = s.predict(multiscale=bool(multiscale), ablate=ablate)
        img = s.image
        seg_rgb = legend = None
        if "seg" in out:
            names = list(s.models["seg"].config.class_names or [])
            pal = class_palette(len(names))
            seg_rgb = overlay(img, seg_to_rgb(out["seg"], pal), float(opacity))
            frac = np.bincount(out["seg"].argmax(0).ravel(), minlength=len(names)) / out["seg"][0].size
            legend = legend_html(names, pal, fractions=frac.tolist())
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
            "Test scales: " + ("0.5, 1, 1.5" if multiscale else "1") + ".",
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

    def _ground_truth(self, s: Session, out: dict[str, np.ndarray]) -> tuple[list[Any], str]:
        gt = self.explorer.ground_truth_of(s.image)
        if gt is None:
            return [], "*No ground truth for this image (SynthScenes examples have it).*"
        from pixelnet.metrics import EdgeMeter, NormalsMeter, SegMeter

        gallery: list[Any] = []
        rows = ["| task | metric | value |", "|---|---|---|"]
        same_classes = (
            gt.get("classes") in (None, list(s.models["seg"].config.class_names or []))
            if "seg" in s.models
            else False
        )
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
        """The tap checkboxes for a model choice: every tap of the chosen models, all on
        (changing them then re-runs the prediction)."""
        labels = {"seg": seg_model, "normals": normals_model, "edges": edges_model}
        names: dict[str, int] = {}
        for task, label in labels.items():
            if task in self.bank.choices:
                for t in self.bank.get(task, label or None).taps:
                    names.setdefault(t.name, t.stride)
        ordered = sorted(names, key=lambda n: names[n])
        return gr.update(choices=ordered, value=ordered)

    def predict_or_clear(self, image: Any, *rest: Any) -> tuple[Any, ...]:
        """UI trigger: like :meth:`predict`, but a cleared input clears the outputs."""
        if image is None:
            return (None, None, "", None, None, None, [], "", "")
        return self.predict(image, *rest)

    def tap_maps_or_clear(self, image: Any, *rest: Any) -> list[Any]:
        """UI trigger: like :meth:`tap_maps`, but empty without an image."""
        return [] if image is None else self.tap_maps(image, *rest)

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
            d = s.inspect(xw, yw, taps_on=_check_taps(taps_on, s.all_taps()))
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
            d = s.inspect(xw, yw, taps_on=_check_taps(taps_on, s.all_taps()))
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
        edge Markdown, seg / normals / edges contribution bar charts, summary Markdown)."""
        xw, yw = d["working_x"], d["working_y"]
        img = s.image
        k = min(1.0, ZOOM_SIDE / max(img.shape[:2]))
        model = next(iter(s.models.values()))
        taps = sorted({t.name: t for m in s.models.values() for t in m.taps}.values(), key=lambda t: t.stride)
        rf = receptive_field_sizes(
            model.backbone, [t.name for t in taps if t.name in model.backbone.tap_info]
        )
        full = draw_zoom_out(img, yw, xw, taps, rf, width=max(1, round(1 / k)))  # in working pixels
        full = _thumb(full, ZOOM_SIDE) if k < 1 else full
        cells = magnified_cells(img, yw, xw, taps)
        cells = _to_height(cells, full.shape[0])
        gap = np.full((full.shape[0], 8, 3), 255, np.uint8)
        zoom = np.concatenate([full, gap, cells], axis=1)
        thumbs = []
        acts = s.activation_maps()
        for i, t in enumerate(taps):
            a = acts[t.name]
            th = heatmap(a)
            cy, cx = t.cell_coordinate(yw), t.cell_coordinate(xw)
            th = _thumb(th, 96)
            f = th.shape[0] / a.shape[0]
            th = draw_points(
                th, np.array([[(cy + 0.5) * f, (cx + 0.5) * f]]), colour=TAP_COLOURS[i % 8], radius=3
            )
            thumbs.append((th, f"{t.name} (stride {t.stride}, RF {rf.get(t.name, '?')} px)"))
        tasks = d["tasks"]
        seg_label = normal_html = edge_md = None
        seg_bar = normals_bar = edges_bar = None
        if "seg" in tasks:
            p = tasks["seg"]["prediction"]
            seg_label = {c: float(v) for c, v in zip(p["classes"], p["probs"])}
            top = p["top_index"]
            contrib = [row[top] for row in tasks["seg"]["contributions"]]
            seg_bar = _bar_frame(tasks["seg"]["taps"], contrib, f"P({p['top']})")
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
                _bar_frame([f"{t} {c}" for t in tasks["normals"]["taps"]], [row[j] for row in rows], c)
                for j, c in enumerate(("nx", "ny", "nz"))
            ]
            normals_bar = pd.concat(frames, ignore_index=True)
        if "edges" in tasks:
            p = tasks["edges"]["prediction"]
            edge_md = f"**Edge probability** at ({d['x']}, {d['y']}): **{p['prob']:.3f}**"
            edges_bar = _bar_frame(
                tasks["edges"]["taps"], [row[0] for row in tasks["edges"]["contributions"]], "P(edge)"
            )
        summary = (
            f"Pixel **({d['x']}, {d['y']})** of the original image (RGB {tuple(d['rgb'])}). "
            f"Contributions are exact Shapley values over the taps; baseline: {d['baseline']}. "
            "They add up to prediction minus baseline prediction."
        )
        return (zoom, thumbs, seg_label, normal_html, edge_md, seg_bar, normals_bar, edges_bar, summary)

    # ---- image-wide tap maps and samplers -------------------------------------------
    @user_errors
    @on_model_thread
    def tap_maps(
        self, image: Any, seg_model: str | None, normals_model: str | None, edges_model: str | None, task: str
    ) -> list[Any]:
        """Per tap, the magnitude of its first-layer contribution to ``task`` over the image."""
        with self.explorer.lock:
            s = self._session(image, seg_model, normals_model, edges_model)
            if task not in s.models:
                raise gr.Error(f"no model for task {task!r}")
            maps = s.contribution_maps(task)
        top = max(float(m.max()) for m in maps.values()) or 1.0
        return [
            (_thumb(heatmap(m, vmax=top), 256), f"{name} (max {float(m.max()):.2g})")
            for name, m in maps.items()
        ]

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
            trained_seg = seg_model is not None and seg_model.config.provenance.get("note") != FALLBACK_LABEL
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
            if "seg" in s.models and "colour" not in source:
                cn = s.models["seg"].config.class_names or []
                labels = [cn[i] if i < len(cn) else f"class {i}" for i in range(k)]
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


def build_demo(explorer: Explorer, *, queue_size: int = 64) -> gr.Blocks:
    """The explorer UI over ``explorer`` (nothing is launched).

    Args:
        explorer: sessions and model choices (see :class:`demo.explorer.Explorer`).
        queue_size: maximum number of queued requests (more are refused, not buffered).

    Returns:
        The ``gr.Blocks`` app, with API endpoints ``predict`` and ``inspect``.
    """
    app = ExplorerApp(explorer)
    bank = explorer.bank
    defaults_loaded = [explorer.run(bank.get, task) for task in TASKS if task in bank.choices]  # model thread
    default_session_taps = sorted(
        {t.name: t.stride for model in defaults_loaded for t in model.taps}.items(), key=lambda kv: kv[1]
    )
    tap_names = [n for n, _ in default_session_taps]
    examples = sorted(p for p in EXAMPLES.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    defaults = [bank.default(t) for t in TASKS]

    with gr.Blocks(title="PixelNet Explorer") as demo:
        gr.Markdown(
            "# PixelNet Explorer\nSegmentation, surface normals and edges from one hypercolumn "
            "per pixel (Bansal et al. 2017). Upload an image, then **click a pixel** to see how "
            "much each layer (tap) of the hypercolumn contributes to its prediction."
        )
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
        legend = gr.HTML()
        with gr.Accordion("Ground truth and metrics (SynthScenes examples)", open=False):
            with gr.Row():
                gt_gallery = SafeGallery(label="Ground truth", columns=3, height=220)
                metrics = gr.Markdown()
        with gr.Tabs():
            with gr.Tab("Pixel inspector"):
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
                        sort=tap_names,
                        label="Tap contributions to the edge probability",
                    )
                result = gr.JSON(label="inspect result (the /inspect API returns this)", open=False)
            with gr.Tab("Tap maps"):
                gr.Markdown(
                    "Magnitude of each tap's contribution to the head's first layer, "
                    "|W_t (c_t(p) - mean c_t)|, over the image (exact Shapley magnitude for a linear head)."
                )
                map_task = gr.Radio(list(TASKS), value="seg", label="Task")
                maps = SafeGallery(label="Per-tap contribution maps", columns=3, height=420)
            with gr.Tab("Sampled pixels"):
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

        models_in = [seg_m, normals_m, edges_m]
        pred_outputs = [
            clickable,
            seg_out,
            legend,
            normals_out,
            edges_out,
            nms_out,
            gt_gallery,
            metrics,
            info,
        ]
        view_outputs = [
            zoom,
            thumbs,
            seg_label,
            normal_html,
            edge_md,
            seg_bar,
            normals_bar,
            edges_bar,
            summary,
        ]
        pred_inputs = [image_in, *models_in, multiscale, taps, opacity]
        run.click(app.predict, pred_inputs, pred_outputs, api_name="predict", preprocess=False).success(
            app.tap_maps, [image_in, *models_in, map_task], maps, preprocess=False, api_visibility="private"
        )
        gr.on(
            [
                image_in.change,
                multiscale.change,
                taps.input,
                opacity.release,
            ],
            app.predict_or_clear,
            pred_inputs,
            pred_outputs,
            preprocess=False,
            api_visibility="private",
            trigger_mode="always_last",
        ).success(
            app.tap_maps_or_clear,
            [image_in, *models_in, map_task],
            maps,
            preprocess=False,
            api_visibility="private",
        )
        map_task.change(
            app.tap_maps_or_clear,
            [image_in, *models_in, map_task],
            maps,
            preprocess=False,
            api_visibility="private",
        )
        clickable.select(
            app.on_select,
            [image_in, *models_in, taps],
            [x_in, y_in, *view_outputs, result],
            preprocess=False,
            api_visibility="private",
            trigger_mode="always_last",
        )
        inspect_btn.click(
            app.inspect,
            [image_in, x_in, y_in, *models_in, taps],
            result,
            preprocess=False,
            api_name="inspect",
        ).success(
            app.inspect_view,
            [image_in, x_in, y_in, *models_in, taps],
            view_outputs,
            preprocess=False,
            api_visibility="private",
        )
        gr.on(
            [m.change for m in models_in],
            app.taps_of,
            models_in,
            taps,
            api_visibility="private",
            trigger_mode="always_last",
        ).success(app.predict_or_clear, pred_inputs, pred_outputs, preprocess=False, api_visibility="private")
        gr.on(
            [sampler.change, n_pix.release, seed.submit],
            app.sample,
            [image_in, *models_in, sampler, n_pix, seed],
            [sampled, hist, sample_note],
            preprocess=False,
            api_visibility="private",
            trigger_mode="always_last",
        )
    demo.queue(max_size=queue_size, default_concurrency_limit=2)
    return demo


def launch(
    demo: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    prevent_thread_lock: bool = False,
    max_file_size: str | int = MAX_FILE_SIZE,
) -> Any:
    """Launch with safe defaults: local bind, no share link, a file-size limit, no SSR,
    system fonts (no requests to font CDNs)."""
    theme = gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )
    return demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        prevent_thread_lock=prevent_thread_lock,
        max_file_size=max_file_size,
        ssr_mode=False,
        show_error=False,
        theme=theme,
        footer_links=["api"],
        quiet=prevent_thread_lock,
    )


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="PixelNet Explorer (Gradio app)", add_help=True)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: local only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="DIR",
        help="extra model directory (or a folder of them); repeatable",
    )
    p.add_argument(
        "--max-side", type=int, default=1024, help="larger uploads are resized to this longer side"
    )
    p.add_argument("--max-file-size", default=MAX_FILE_SIZE, help="upload limit, e.g. 20mb")
    p.add_argument("--queue-size", type=int, default=64, help="maximum queued requests")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch's default; 1 is faster on a busy machine)",
    )
    return p


def build_explorer(*, models: Sequence[str] = (), max_side: int = 1024, device: str = "cpu") -> Explorer:
    """Discover models (defaults, ``runs/``, ``models``) and index example ground truth."""
    from pixelnet.device import pick_device

    dev = pick_device(device)
    explorer = Explorer(ModelBank(discover_models(REPO, models), device=dev), max_side=max_side, device=dev)
    index_ground_truth(explorer, EXAMPLES)
    return explorer


def index_ground_truth(explorer: Explorer, folder: Path) -> None:
    """Register ``<name>.npz`` ground truth next to ``<name>.png`` examples (matched by content)."""
    from demo.explorer import image_digest
    from pixelnet.image import load_image

    for png in sorted(folder.glob("*.png")):
        npz = png.with_suffix(".npz")
        if npz.is_file():
            try:
                explorer.ground_truth[image_digest(load_image(png))] = npz
            except ImageError:
                log.warning("example %s is unreadable", png)


def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO)
    if args.threads:
        torch.set_num_threads(args.threads)
    explorer = build_explorer(models=args.model, max_side=args.max_side, device=args.device)
    launch(
        build_demo(explorer, queue_size=args.queue_size),
        host=args.host,
        port=args.port,
        max_file_size=args.max_file_size,
    )


if __name__ == "__main__":
    main(get_args_parser().parse_args())
