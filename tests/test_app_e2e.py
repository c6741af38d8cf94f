"""The explorer served on a free local port, driven by gradio_client (loopback only)."""

from __future__ import annotations

import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from test_app_support import tiny_explorer, write_inputs

from demo.app import build_demo, launch

MAX_FILE_SIZE = 300_000  # bytes; small so the refusal test stays fast


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e")
    explorer = tiny_explorer(root)
    demo = build_demo(explorer, queue_size=64)
    launch(demo, host="127.0.0.1", port=None, prevent_thread_lock=True, max_file_size=MAX_FILE_SIZE)
    url = demo.local_url
    assert url.startswith("http://127.0.0.1:")
    yield url, write_inputs(root / "inputs"), explorer
    demo.close()


def test_predict_and_inspect_via_gradio_client(server) -> None:
    url, p, _ = server
    client = Client(url, verbose=False)
    out = client.predict(handle_file(str(p["good.png"])), api_name="/predict")
    assert len(out) == 9 and Path(out[0]).is_file() and "64x48" in out[-1]
    d = client.predict(handle_file(str(p["good.png"])), 5, 7, api_name="/inspect")
    assert (d["x"], d["y"]) == (5, 7) and set(d["tasks"]) == {"seg", "normals", "edges"}
    assert d["rgb"] == [250, 20, 20]


def test_bad_input_is_a_message_and_the_server_stays_up(server) -> None:
    url, p, _ = server
    client = Client(url, verbose=False)
    with pytest.raises(AppError, match="empty"):
        client.predict(handle_file(str(p["empty.png"])), api_name="/predict")
    with pytest.raises(AppError) as e:
        client.predict(handle_file(str(p["not_an_image.png"])), api_name="/predict")
    assert "Traceback" not in str(e.value) and "not a readable image" in str(e.value)
    assert client.predict(handle_file(str(p["good.png"])), 1, 1, api_name="/inspect")["x"] == 1


def test_uploads_above_the_size_limit_are_refused(server, tmp_path: Path) -> None:
    url, _, _ = server
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (MAX_FILE_SIZE + 10_000))
    with big.open("rb") as f:
        r = httpx.post(
            f"{url.rstrip('/')}/gradio_api/upload", files={"files": ("big.png", f, "image/png")}, timeout=30
        )
    assert r.status_code == 413


@pytest.mark.slow
def test_twenty_concurrent_sessions(server) -> None:
    url, p, explorer = server
    names = ["good.png", "rgba.png", "gray.png", "cmyk.jpg"]

    def session(i: int) -> tuple[int, int]:
        c = Client(url, verbose=False)
        path = handle_file(str(p[names[i % len(names)]]))
        c.predict(path, api_name="/predict")
        d = c.predict(path, i % 40, i % 30, api_name="/inspect")
        return d["x"], d["y"]

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(session, range(20)))
    elapsed = time.perf_counter() - t0
    assert results == [(i % 40, i % 30) for i in range(20)]
    assert elapsed < 90, f"20 sessions took {elapsed:.1f} s"
    assert len(explorer._sessions) <= explorer.cache_size
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert grown_mb < 500, f"peak memory grew by {grown_mb:.0f} MB"
