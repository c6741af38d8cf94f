"""A real browser (headless Chromium via Playwright) clicks a pixel and sees the similarity maps."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_app_support import tiny_explorer, write_inputs

from demo.app import build_demo, launch
from demo.screenshot import ARGS  # the same offline-safe Chromium flags as the screenshot script

CHROMIUM = os.environ.get("PIXELNET_CHROMIUM", "/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)),
        reason=f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)",
    ),
]


def test_click_shows_one_similarity_map_per_tap_and_the_whole(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    explorer = tiny_explorer(tmp_path)
    demo = build_demo(explorer)
    launch(demo, host="127.0.0.1", port=None, prevent_thread_lock=True)
    inputs = write_inputs(tmp_path / "inputs")
    n_maps = len(explorer.run(explorer.bank.get, "seg").backbone.tap_names) + 1
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(demo.local_url, wait_until="domcontentloaded")
            page.locator("#image-in input[type=file]").set_input_files(str(inputs["good.png"]))
            img = page.locator("#clickable img")
            img.wait_for(state="visible", timeout=30_000)
            page.wait_for_function(
                "() => { const i = document.querySelector('#clickable img');"
                " return i && i.complete && i.naturalWidth > 0; }",
                timeout=30_000,
            )
            box = img.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
            maps = page.locator("#similarity-maps img")
            page.wait_for_function(
                f"() => document.querySelectorAll('#similarity-maps img').length >= {n_maps}", timeout=30_000
            )
            assert maps.count() >= n_maps
            text = page.locator("#similarity-maps").inner_text()
            assert "whole hypercolumn" in text, text
            browser.close()
    finally:
        demo.close()
