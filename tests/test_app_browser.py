"""A real browser (headless Chromium via Playwright) uploads an image and clicks a pixel."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


@contextmanager
def uploaded_page(tmp_path: Path, height: int = 900, *, explorer: Any = None,
                  upload: Path | None = None) -> Iterator[tuple[Any, list[str]]]:
    """The explorer (default: over tiny models) in headless Chromium with an image uploaded (default
    ``good.png``): ``(page, requested URLs)``."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    demo = build_demo(explorer or tiny_explorer(tmp_path))
    launch(demo, host="127.0.0.1", port=None, prevent_thread_lock=True)
    inputs = write_inputs(tmp_path / "inputs")
    upload = upload or inputs["good.png"]
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": height})
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            page.goto(demo.local_url, wait_until="domcontentloaded")
            page.locator("#image-in input[type=file]").set_input_files(str(upload))
            yield page, requested
            browser.close()
    finally:
        demo.close()


def clickable_image(page: Any) -> Any:
    """The working image to click on, once the prediction has drawn it."""
    img = page.locator("#clickable img")
    img.wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "() => { const i = document.querySelector('#clickable img');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=30_000,
    )
    return img


def test_upload_click_and_inspect(tmp_path: Path) -> None:
    with uploaded_page(tmp_path) as (page, requested):
        img = clickable_image(page)
        # where the image content is drawn inside the <img> box (object-fit: contain)
        geo = img.evaluate("""i => { const r = i.getBoundingClientRect();
            const s = Math.min(r.width / i.naturalWidth, r.height / i.naturalHeight);
            return {x: r.x + (r.width - i.naturalWidth * s) / 2,
                    y: r.y + (r.height - i.naturalHeight * s) / 2,
                    s: s, nw: i.naturalWidth, nh: i.naturalHeight}; }""")
        assert (geo["nw"], geo["nh"]) == (64, 48)
        px, py = 41, 13
        page.mouse.click(geo["x"] + (px + 0.5) * geo["s"], geo["y"] + (py + 0.5) * geo["s"])
        summary = page.locator("#inspect-summary")
        summary.get_by_text("Pixel").wait_for(timeout=30_000)
        m = re.search(r"Pixel \((\d+), (\d+)\)", summary.inner_text())
        assert m, summary.inner_text()
        tol = 1 + 1 / geo["s"]
        x, y = int(m.group(1)), int(m.group(2))
        assert abs(x - px) <= tol and abs(y - py) <= tol, (x, y, px, py, geo)
        assert int(float(page.locator("#inspect-x input").input_value())) == x
        outside = [u for u in requested if not u.startswith(("http://127.0.0.1", "data:", "blob:"))]
        assert not outside, f"the page contacted outside hosts: {outside[:5]}"


def test_teach_two_strokes_and_train(tmp_path: Path) -> None:
    """Paint one stroke of each of two classes on the Teach canvas, train, and get a segmentation back."""
    with uploaded_page(tmp_path, height=1000) as (page, _):
        page.locator("#clickable img").wait_for(state="visible", timeout=30_000)
        page.get_by_role("tab", name="Teach").click()
        canvas = page.locator("#teach-canvas canvas").first
        canvas.wait_for(state="visible", timeout=30_000)
        canvas.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)  # the background image is drawn on the canvas
        box = canvas.bounding_box()
        assert box is not None

        def stroke(y: float, x0: float, x1: float) -> None:
            page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y * box["height"])
            page.mouse.down()
            page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y * box["height"], steps=8)
            page.mouse.up()

        stroke(0.2, 0.2, 0.35)
        page.locator('#teach-canvas button[aria-label="Color"]').click()
        page.locator("#teach-canvas menu.swatch button.color").nth(1).click()
        stroke(0.8, 0.6, 0.85)
        page.locator("#teach-train").click()
        status = page.locator("#teach-status")
        status.get_by_text("Trained").wait_for(timeout=60_000)
        assert re.search(r"object \d+, background \d+", status.inner_text()), status.inner_text()
        page.wait_for_function(
            "() => { const i = document.querySelector('#teach-seg img');"
            " return i && i.complete && i.naturalWidth > 0; }",
            timeout=30_000,
        )


def test_a_real_photo_is_segmented_into_real_categories(tmp_path: Path) -> None:
    """With the shipped models, an uploaded photo of a cat gets the ImageNet-category segmentation
    (the explorer's default for photos): the legend names real categories, an animal among them, and
    no SynthScenes class."""
    from demo.explorer import Explorer
    from demo.models import REPO, ModelBank, discover_models

    photo = REPO / "assets" / "examples" / "chelsea.jpg"
    explorer = Explorer(ModelBank(discover_models(REPO)), max_side=512)
    with uploaded_page(tmp_path, explorer=explorer, upload=photo) as (page, _):
        from pixelnet.distill.pseudo_labels import PSEUDO_CLASSES

        legend = page.locator("#seg-legend")
        legend.get_by_text("%").first.wait_for(timeout=90_000)
        text = legend.inner_text()
        named = [c for c in PSEUDO_CLASSES if c in text]
        assert named and "wall" not in text and "sphere" not in text, text
        assert {"cat", "dog", "mammal"} & set(named), text  # an animal category on the cat photo


def test_grace_hopper_is_a_person_in_the_legend(tmp_path: Path) -> None:
    """Issue #25: with the shipped models, matplotlib's photo of Grace Hopper (held out from every
    training) is segmented with 'person' in the legend (it read 'other' and 'fruit/veg' before)."""
    from matplotlib import cbook

    from demo.explorer import Explorer
    from demo.models import REPO, ModelBank, discover_models

    photo = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    explorer = Explorer(ModelBank(discover_models(REPO)), max_side=512)
    with uploaded_page(tmp_path, explorer=explorer, upload=photo) as (page, _):
        legend = page.locator("#seg-legend")
        legend.get_by_text("%").first.wait_for(timeout=90_000)
        assert "person" in legend.inner_text(), legend.inner_text()
