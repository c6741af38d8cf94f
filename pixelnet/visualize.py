"""Pictures of PixelNet outputs: segmentation colours and legend, the standard RGB coding of
surface normals, edge maps, overlays, sampled pixels and the nested "zoom-out" view of a
pixel's taps (Mostajabi et al.: a pixel described by ever larger regions around it).

Everything takes and returns ``(H, W, 3)`` uint8 RGB arrays (or plain data), so the
explorer (``demo/``), the docs and the benchmarks draw the same pictures.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from .taps import TapInfo

__all__ = [
    "TAP_COLOURS",
    "class_palette",
    "colorize_labels",
    "draw_points",
    "draw_zoom_out",
    "magnified_cells",
    "edges_to_rgb",
    "heatmap",
    "legend_html",
    "normal_angles",
    "normals_to_rgb",
    "overlay",
    "receptive_field_sizes",
    "seg_labels",
    "seg_to_rgb",
    "tap_regions",
    "UNKNOWN_BELOW",
    "UNKNOWN_CLASS",
]

# one distinct colour per tap, finest to coarsest (colour-blind-friendly "bright" scheme)
TAP_COLOURS: tuple[tuple[int, int, int], ...] = (
    (68, 119, 170), (102, 204, 238), (34, 136, 51), (204, 187, 68), (238, 102, 119), (170, 51, 119),
    (187, 187, 187), (0, 0, 0),
)


def class_palette(num_classes: int) -> np.ndarray:
    """The PASCAL VOC bit-interleaved palette: ``(K, 3)`` uint8, distinct for K <= 256."""
    pal = np.zeros((num_classes, 3), dtype=np.uint8)
    for i in range(num_classes):
        c, r, g, b = i + 1, 0, 0, 0  # +1: class 0 is not black (black is "no prediction")
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def colorize_labels(labels: np.ndarray, palette: np.ndarray, *, ignore_index: int = 255) -> np.ndarray:
    """``(H, W)`` integer labels -> ``(H, W, 3)`` uint8 colours (``ignore_index`` is black)."""
    labels = np.asarray(labels)
    out = np.zeros((*labels.shape, 3), dtype=np.uint8)
    ok = (labels >= 0) & (labels < len(palette)) & (labels != ignore_index)
    out[ok] = palette[labels[ok]]
    return out


def seg_to_rgb(probs: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Class probabilities ``(K, H, W)`` -> colour of the most likely class ``(H, W, 3)``."""
    probs = np.asarray(probs)
    pal = class_palette(probs.shape[0]) if palette is None else palette
    return colorize_labels(probs.argmax(0), pal)


UNKNOWN_CLASS = "other"
UNKNOWN_BELOW = 0.4
"""A model with an ``other`` class (the ImageNet categories) shows pixels whose top probability is
below this as ``other``: the model does not know what is there."""


def seg_labels(probs: np.ndarray, class_names: Sequence[str], *, below: float = UNKNOWN_BELOW) -> np.ndarray:
    """The label map shown for class probabilities: the most likely class, except that where the
    model has an ``other`` class, pixels whose top probability is below ``below`` read ``other``.

    Args:
        probs: ``(K, H, W)`` class probabilities.
        class_names: the K names.
        below: the least top probability of a named class.

    Returns:
        int64 ``(H, W)`` class indices.
    """
    probs = np.asarray(probs)
    labels = probs.argmax(0)
    if UNKNOWN_CLASS in class_names:
        labels = np.where(probs.max(0) < below, list(class_names).index(UNKNOWN_CLASS), labels)
    return labels.astype(np.int64)


def legend_html(class_names: Sequence[str], palette: np.ndarray | None = None,
                fractions: Sequence[float] | None = None, *, min_fraction: float = 0.0) -> str:
    """An HTML legend: a colour swatch and name per class (with its image fraction if given).

    Args:
        min_fraction: with ``fractions``, list only the classes covering at least this much of the
            image, largest first (for models with many classes).
    """
    pal = class_palette(len(class_names)) if palette is None else palette
    order = list(range(len(class_names)))
    if fractions is not None and min_fraction > 0:
        order = sorted((i for i in order if fractions[i] >= min_fraction), key=lambda i: -fractions[i])
    items = []
    for i in order:
        name = class_names[i]
        r, g, b = (int(v) for v in pal[i])
        frac = "" if fractions is None else f" <small>{100 * fractions[i]:.0f}%</small>"
        items.append(
            f'<span style="display:inline-block;margin:2px 8px 2px 0;white-space:nowrap">'
            f'<span style="display:inline-block;width:12px;height:12px;background:rgb({r},{g},{b});'
            f'border:1px solid #888;vertical-align:middle;margin-right:4px"></span>'
            f"{html.escape(str(name))}{frac}</span>")
    return '<div class="pixelnet-legend">' + "".join(items) + "</div>"


def normals_to_rgb(normals: np.ndarray) -> np.ndarray:
    """Unit normals ``(H, W, 3)`` (x right, y down, z towards the camera) -> the standard
    RGB coding ``(n + 1) / 2`` as uint8 (a surface facing the camera is (128, 128, 255))."""
    n = np.asarray(normals, dtype=np.float32)
    return ((np.clip(n, -1, 1) + 1) * 127.5).round().astype(np.uint8)


def normal_angles(n: Sequence[float]) -> dict[str, float]:
    """Angles of one unit normal (camera frame: x right, y down, z towards the camera).

    Returns:
        ``slant``: degrees between the normal and the direction to the camera (0 = facing
        the camera); ``tilt``: direction of the normal in the image plane, degrees
        counter-clockwise from image right (90 = pointing up).
    """
    x, y, z = (float(v) for v in n)
    norm = math.sqrt(x * x + y * y + z * z) or 1.0
    slant = math.degrees(math.acos(max(-1.0, min(1.0, z / norm))))
    tilt = math.degrees(math.atan2(-y, x)) % 360.0
    return {"slant": slant, "tilt": tilt}


def edges_to_rgb(prob: np.ndarray) -> np.ndarray:
    """Edge probabilities ``(H, W)`` in [0, 1] -> dark edges on white, ``(H, W, 3)`` uint8."""
    g = ((1 - np.clip(np.asarray(prob, dtype=np.float32), 0, 1)) * 255).round().astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def heatmap(values: np.ndarray, *, vmax: float | None = None, cmap: str = "magma") -> np.ndarray:
    """A non-negative ``(H, W)`` map -> ``(H, W, 3)`` uint8 colours (0 .. ``vmax``, default: max)."""
    from matplotlib import colormaps  # imported on use: keeps `import pixelnet` light

    v = np.asarray(values, dtype=np.float32)
    top = float(v.max()) if vmax is None else float(vmax)
    t = np.clip(v / top, 0, 1) if top > 0 else np.zeros_like(v)
    lut = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    return lut[(t * 255).round().astype(np.int64)]


def overlay(image: np.ndarray, colours: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend ``colours`` over ``image`` (both ``(H, W, 3)`` uint8) with opacity ``alpha``."""
    if image.shape != colours.shape:
        raise ValueError(f"image {image.shape} and colours {colours.shape} differ in shape")
    a = float(np.clip(alpha, 0, 1))
    return (image.astype(np.float32) * (1 - a) + colours.astype(np.float32) * a).round().astype(np.uint8)


def draw_points(image: np.ndarray, points: np.ndarray, *, colour: tuple[int, int, int] = (255, 40, 40),
                radius: int = 2, outline: tuple[int, int, int] | None = (255, 255, 255)) -> np.ndarray:
    """Mark pixels ``(P, 2)`` given as ``(y, x)`` with small dots; returns a new image."""
    img = Image.fromarray(np.ascontiguousarray(image))
    d = ImageDraw.Draw(img)
    for y, x in np.asarray(points).reshape(-1, 2).tolist():
        d.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour, outline=outline)
    return np.asarray(img)


def _first(v: object) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)  # type: ignore[arg-type]


_RF_CACHE: dict[tuple[int, str], int] = {}


@torch.no_grad()
def receptive_field_sizes(backbone: nn.Module, tap_names: Sequence[str]) -> dict[str, int]:
    """Theoretical receptive-field size (pixels, square) of each tap's cells.

    Runs the backbone once per tap on a small input, records the convolutions and
    poolings executed up to that tap (in order) and composes their kernels and strides:
    ``r += (k - 1) * dilation * jump; jump *= stride``. Identity or 1x1 shortcuts (VGG,
    EfficientNet) do not widen the field, so the chain gives the exact size.

    Returns:
        tap name -> size in pixels (cached per backbone instance).
    """
    todo = [n for n in tap_names if (id(backbone), n) not in _RF_CACHE]
    if todo:
        ops: list[tuple[int, int, int]] = []

        def hook(mod: nn.Module, _inp: object, _out: object) -> None:
            k, s, d = (_first(getattr(mod, a, 1)) for a in ("kernel_size", "stride", "dilation"))
            ops.append((k, s, d))

        kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
        handles = [m.register_forward_hook(hook) for m in backbone.modules() if isinstance(m, kinds)]
        try:
            p = next(backbone.parameters(), torch.zeros(()))
            x = torch.zeros(1, 3, 32, 32, device=p.device, dtype=p.dtype)  # the smallest VGG input
            for name in todo:
                ops.clear()
                backbone(x, [name])
                r, jump = 1, 1
                for k, s, d in ops:
                    r += (k - 1) * d * jump
                    jump *= s
                _RF_CACHE[(id(backbone), name)] = r
        finally:
            for h in handles:
                h.remove()
    return {n: _RF_CACHE[(id(backbone), n)] for n in tap_names}


def tap_regions(taps: Sequence[TapInfo], y: float, x: float,
                rf_sizes: Mapping[str, int] | None = None) -> list[dict[str, object]]:
    """The cell and the receptive field of every tap around pixel ``(y, x)``.

    The cell is the ``stride x stride`` square around the tap's cell centre nearest to the
    pixel (centres at ``offset + stride * j``); the receptive field is the square of the
    tap's receptive-field size around that centre.

    Returns:
        one dict per tap: ``name``, ``stride``, ``cell_centre`` ``(y, x)``, ``cell``
        ``(x0, y0, x1, y1)``, and ``receptive_field`` box / ``rf_size`` when known.
    """
    out: list[dict[str, object]] = []
    for t in taps:
        cy = t.offset + t.stride * round((y - t.offset) / t.stride)
        cx = t.offset + t.stride * round((x - t.offset) / t.stride)
        h = t.stride / 2
        item: dict[str, object] = {"name": t.name, "stride": t.stride, "cell_centre": (cy, cx),
                                   "cell": (cx - h, cy - h, cx + h, cy + h)}
        if rf_sizes is not None and t.name in rf_sizes:
            r = rf_sizes[t.name] / 2
            item["rf_size"] = int(rf_sizes[t.name])
            item["receptive_field"] = (cx - r, cy - r, cx + r, cy + r)
        out.append(item)
    return out


def draw_zoom_out(image: np.ndarray, y: float, x: float, taps: Sequence[TapInfo],
                  rf_sizes: Mapping[str, int] | None = None, *, width: int | None = None) -> np.ndarray:
    """Draw the nested regions of every tap around pixel ``(y, x)`` (finest to coarsest):
    solid squares for the tap cells, dashed-looking thin squares for receptive fields
    (clipped by the image border), and a cross-hair on the pixel. Colours follow
    :data:`TAP_COLOURS` in tap order."""
    img = Image.fromarray(np.ascontiguousarray(image))
    d = ImageDraw.Draw(img)
    lw = width or max(1, round(max(img.size) / 300))
    for i, reg in enumerate(tap_regions(taps, y, x, rf_sizes)):
        col = TAP_COLOURS[i % len(TAP_COLOURS)]
        if "receptive_field" in reg:
            x0, y0, x1, y1 = reg["receptive_field"]  # type: ignore[misc]
            _dashed_rect(d, (x0, y0, x1, y1), col, max(1, lw // 2 + 1))
        x0, y0, x1, y1 = reg["cell"]  # type: ignore[misc]
        d.rectangle([x0, y0, x1, y1], outline=col, width=lw)
    r = 3 * lw + 2
    for c, w in (((255, 255, 255), lw + 2), ((230, 0, 0), lw)):
        d.line([x - r, y, x + r, y], fill=c, width=w)
        d.line([x, y - r, x, y + r], fill=c, width=w)
    return np.asarray(img)


def magnified_cells(image: np.ndarray, y: int, x: int, taps: Sequence[TapInfo], *, window: int = 96,
                    magnify: int = 4) -> np.ndarray:
    """A magnified crop around pixel ``(y, x)`` with every tap's cell drawn (the cells of
    the finest taps are a few pixels wide and invisible at full view).

    The crop origin is a multiple of the least common multiple of the strides, so every
    tap's cell grid is the same in crop coordinates as in the image.

    Returns:
        ``(h * magnify, w * magnify, 3)`` uint8, ``h, w <= window + lcm``.
    """
    period = math.lcm(*(int(t.stride) for t in taps)) if taps else 1
    h, w = image.shape[:2]
    y0 = max(0, (y - window // 2) // period * period)
    x0 = max(0, (x - window // 2) // period * period)
    crop = image[y0 : min(h, y0 + window + period), x0 : min(w, x0 + window + period)]
    m = int(magnify)
    big = np.repeat(np.repeat(crop, m, axis=0), m, axis=1)
    scaled = [TapInfo(t.name, t.channels, t.stride * m, t.offset * m + (m - 1) / 2) for t in taps]
    c = (m - 1) / 2
    return draw_zoom_out(big, (y - y0) * m + c, (x - x0) * m + c, scaled, None, width=2)


def _dashed_rect(d: ImageDraw.ImageDraw, box: tuple[float, float, float, float],
                 colour: tuple[int, int, int], width: int, dash: int = 6) -> None:
    x0, y0, x1, y1 = box
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)),
                               ((x0, y1), (x0, y0))):
        length = math.hypot(bx - ax, by - ay)
        n = max(1, int(length // dash))
        for k in range(0, n, 2):
            t0, t1 = k / n, min(1.0, (k + 1) / n)
            d.line([ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1],
                   fill=colour, width=width)
