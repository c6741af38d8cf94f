"""A real browser (headless Chromium via Playwright) clicks a pixel and sees the similarity maps."""

from __future__ import annotations

from pathlib import Path

from test_app_browser import clickable_image, pytestmark, uploaded_page  # noqa: F401 - the browser mark and skip apply here too
from test_app_support import TINY

from pixelnet import build_backbone


def test_click_shows_one_similarity_map_per_tap_and_the_whole(tmp_path: Path) -> None:
    n_maps = len(build_backbone("vgg16", **TINY).tap_names) + 1  # the tiny explorer's backbone taps + whole
    with uploaded_page(tmp_path) as (page, _):
        img = clickable_image(page)
        box = img.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
        page.wait_for_function(
            f"() => document.querySelectorAll('#similarity-maps img').length >= {n_maps}", timeout=30_000
        )
        text = page.locator("#similarity-maps").inner_text()
        assert "whole hypercolumn" in text and "conv1_2: stride 1" in text, text
