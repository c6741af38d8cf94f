"""Contracts of the pictures in pixelnet.visualize."""

from __future__ import annotations

import numpy as np
import pytest

from pixelnet.backbones import build_backbone
from pixelnet.taps import TapInfo
from pixelnet.visualize import (
    class_palette,
    colorize_labels,
    draw_points,
    draw_zoom_out,
    edges_to_rgb,
    heatmap,
    legend_html,
    magnified_cells,
    normal_angles,
    normals_to_rgb,
    overlay,
    receptive_field_sizes,
    seg_to_rgb,
    tap_regions,
)


def test_palette_is_distinct_and_labels_map_to_it() -> None:
    pal = class_palette(40)
    assert pal.shape == (40, 3) and pal.dtype == np.uint8
    assert len({tuple(c) for c in pal.tolist()}) == 40
    labels = np.array([[0, 1], [255, 39]])
    rgb = colorize_labels(labels, pal)
    assert (rgb[0, 0] == pal[0]).all() and (rgb[1, 1] == pal[39]).all() and (rgb[1, 0] == 0).all()
    probs = np.zeros((3, 2, 2))
    probs[2] = 1
    assert (seg_to_rgb(probs) == class_palette(3)[2]).all()


def test_legend_escapes_names_and_shows_fractions() -> None:
    out = legend_html(["sky", "<b>x</b>"], fractions=[0.25, 0.75])
    assert "sky" in out and "&lt;b&gt;" in out and "75%" in out


def test_normals_standard_rgb_coding_and_angles() -> None:
    n = np.array([[[0, 0, 1], [1, 0, 0], [0, -1, 0]]], dtype=np.float32)
    rgb = normals_to_rgb(n)
    assert rgb[0, 0].tolist() == [128, 128, 255]  # facing the camera
    assert rgb[0, 1].tolist() == [255, 128, 128]  # pointing right
    assert rgb[0, 2].tolist() == [128, 0, 128]  # pointing up (y down)
    assert normal_angles([0, 0, 1])["slant"] == pytest.approx(0)
    up = normal_angles([0, -1, 0])
    assert up["slant"] == pytest.approx(90) and up["tilt"] == pytest.approx(90)


def test_edges_heatmap_overlay_points() -> None:
    e = edges_to_rgb(np.array([[0.0, 1.0]]))
    assert e[0, 0].tolist() == [255] * 3 and e[0, 1].tolist() == [0] * 3
    h = heatmap(np.array([[0.0, 2.0]]))
    assert h.shape == (1, 2, 3) and h.dtype == np.uint8 and not (h[0, 0] == h[0, 1]).all()
    assert heatmap(np.zeros((2, 2))).shape == (2, 2, 3)
    img = np.zeros((4, 4, 3), np.uint8)
    assert overlay(img, np.full_like(img, 200), 0.5)[0, 0, 0] == 100
    with pytest.raises(ValueError):
        overlay(img, np.zeros((2, 2, 3), np.uint8))
    dots = draw_points(np.zeros((20, 20, 3), np.uint8), np.array([[10, 5]]), radius=1)
    assert dots[10, 5].tolist() == [255, 40, 40] and dots[0, 0].sum() == 0


def test_receptive_fields_of_vgg_match_the_textbook_values() -> None:
    vgg = build_backbone("vgg16", width=0.0625, fc_channels=64)
    rf = receptive_field_sizes(vgg, vgg.tap_names)
    assert rf == {"conv1_2": 5, "conv2_2": 14, "conv3_3": 40, "conv4_3": 92, "conv5_3": 196, "fc7": 404}


def test_tap_regions_are_nested_and_centred_on_cells() -> None:
    taps = [TapInfo("a", 4, 1, 0.0), TapInfo("b", 4, 4, 1.5), TapInfo("c", 4, 16, 7.5)]
    regs = tap_regions(taps, 21, 30, {"a": 3, "b": 10, "c": 40})
    assert regs[1]["cell_centre"] == (21.5, 29.5)
    for r in regs:
        x0, y0, x1, y1 = r["cell"]
        assert x0 <= 30 <= x1 and y0 <= 21 <= y1
        assert r["receptive_field"][2] - r["receptive_field"][0] == r["rf_size"]
    sizes = [r["receptive_field"][2] - r["receptive_field"][0] for r in regs]
    assert sizes == sorted(sizes)
    img = draw_zoom_out(np.zeros((64, 64, 3), np.uint8), 21, 30, taps, {"a": 3, "b": 10, "c": 40})
    assert img.shape == (64, 64, 3) and img.any()


def test_magnified_cells_crop_keeps_cell_grids() -> None:
    taps = [TapInfo("a", 4, 2, 0.0), TapInfo("b", 4, 8, 0.0)]
    img = np.zeros((200, 300, 3), np.uint8)
    out = magnified_cells(img, 150, 250, taps, window=32, magnify=3)
    assert out.shape[2] == 3 and out.shape[0] % 3 == 0 and out.shape[0] <= (32 + 8) * 3
    assert out.any()  # cells and cross-hair drawn
