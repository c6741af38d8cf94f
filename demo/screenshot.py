"""Regenerate ``docs/screenshot.png``: the explorer (default models) in headless Chromium
after uploading an example photo and clicking a pixel.

    python demo/screenshot.py [--image assets/examples/chelsea.jpg] [--x 300 --y 120]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from PIL import Image  # noqa: E402

from demo.app import REPO, build_demo, build_explorer, launch  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Screenshot of the explorer for the README")
    p.add_argument("--image", default=str(REPO / "assets" / "examples" / "chelsea.jpg"))
    p.add_argument("--x", type=int, default=300, help="pixel to click (image pixels)")
    p.add_argument("--y", type=int, default=120)
    p.add_argument("--out", default=str(REPO / "docs" / "screenshot.png"))
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--max-kb", type=int, default=400, help="quantise the PNG until it is this small")
    return p


def main(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    demo = build_demo(build_explorer())
    launch(demo, host="127.0.0.1", port=None, prevent_thread_lock=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(demo.local_url, wait_until="domcontentloaded")
            page.locator("#image-in input[type=file]").set_input_files(args.image)
            page.wait_for_function(
                "() => { const i = document.querySelector('#clickable img');"
                " return i && i.complete && i.naturalWidth > 0; }",
                timeout=300_000,
            )
            img = page.locator("#clickable img")
            geo = img.evaluate("""i => { const r = i.getBoundingClientRect();
                const s = Math.min(r.width / i.naturalWidth, r.height / i.naturalHeight);
                return {x: r.x + (r.width - i.naturalWidth * s) / 2,
                        y: r.y + (r.height - i.naturalHeight * s) / 2, s: s}; }""")
            page.mouse.click(geo["x"] + (args.x + 0.5) * geo["s"], geo["y"] + (args.y + 0.5) * geo["s"])
            page.locator("#inspect-summary").get_by_text("Pixel").wait_for(timeout=120_000)
            page.wait_for_timeout(3000)  # let plots and galleries render
            png = page.screenshot(full_page=True)
            browser.close()
    finally:
        demo.close()
    shot = Image.open(io.BytesIO(png)).convert("RGB")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for colours, scale in ((256, 1.0), (128, 1.0), (128, 0.8), (64, 0.7), (64, 0.5)):
        im = (
            shot
            if scale == 1
            else shot.resize((round(shot.width * scale), round(shot.height * scale)), Image.LANCZOS)
        )
        buf = io.BytesIO()
        im.quantize(colours, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
        if buf.tell() <= args.max_kb * 1024:
            break
    out.write_bytes(buf.getvalue())
    print(f"wrote {out} ({buf.tell() // 1024} KB, {im.width}x{im.height})")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
