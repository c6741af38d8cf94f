"""The feature views of the explorer served on a free local port, driven by gradio_client (loopback only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from test_app_support import make_image, tiny_explorer, write_inputs

from demo.app import build_demo, launch


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("features_e2e")
    demo = build_demo(tiny_explorer(root), queue_size=16)
    launch(demo, host="127.0.0.1", port=None, prevent_thread_lock=True)
    p = write_inputs(root / "inputs")
    p["mirrored.png"] = root / "inputs" / "mirrored.png"
    Image.fromarray(np.ascontiguousarray(make_image()[:, ::-1])).save(p["mirrored.png"])
    yield demo.local_url, p
    demo.close()


def test_similarity_via_gradio_client(server) -> None:
    url, p = server
    client = Client(url, verbose=False)
    gallery, d = client.predict(handle_file(str(p["good.png"])), 5, 7, "raw", api_name="/similarity")
    assert (d["x"], d["y"]) == (5, 7) and d["space"] == "raw" and not d["cross_image"]
    assert len(gallery) == len(d["taps"]) + 1 and gallery[-1]["caption"].startswith("whole hypercolumn")
    assert Image.open(gallery[0]["image"]).size == (64, 48)
    assert len(d["top_k"]) == 5 and set(d["top_k"][0]["taps"]) == set(d["taps"])
    _, cross = client.predict(handle_file(str(p["good.png"])), 5, 7, "standardised",
                              handle_file(str(p["mirrored.png"])), api_name="/similarity")
    assert cross["cross_image"] and cross["space"] == "standardised"
    with pytest.raises(AppError, match="outside"):
        client.predict(handle_file(str(p["good.png"])), 500, 7, api_name="/similarity")


def test_features_via_gradio_client(server) -> None:
    url, p = server
    client = Client(url, verbose=False)
    gallery, pca, seg, legend, pca_b, seg_b, d = client.predict(
        handle_file(str(p["good.png"])), 4, "standardised", api_name="/features")
    assert d["k"] == 4 and len(d["segments"]) == 4 and not d["second_image"]
    assert Image.open(pca).size == Image.open(seg).size == (64, 48) and pca_b is None and seg_b is None
    assert len(gallery) == len(d["taps"]) and "segment 3" in legend
    out = client.predict(handle_file(str(p["good.png"])), 2, "raw", d["taps"][:2], 0,
                         handle_file(str(p["mirrored.png"])), api_name="/features")
    assert out[-1]["second_image"] and out[-1]["taps"] == d["taps"][:2] and Path(out[4]).is_file()
