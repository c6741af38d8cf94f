"""Teaching under load through gradio_client: 20 concurrent browser sessions each train 3 heads on
the served app, with no error, bounded memory and a bounded store that tells evicted sessions why."""

from __future__ import annotations

import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from test_app_support import make_image, tiny_explorer

from demo.app import build_demo, launch
from demo.taught import TaughtStore
from pixelnet.outputs import label_png_bytes

MAX_SESSIONS = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("teach-e2e")
    store = TaughtStore(max_sessions=MAX_SESSIONS)
    demo = build_demo(tiny_explorer(root), taught=store)
    launch(demo, host="127.0.0.1", port=None, prevent_thread_lock=True)
    img = root / "img.png"
    Image.fromarray(make_image()).save(img)
    lab = np.zeros((48, 64), np.uint8)
    lab[10, 5:20], lab[40, 30:60] = 1, 2
    (root / "labels.png").write_bytes(label_png_bytes(lab, 2))
    bad = root / "bad_labels.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(bad)
    yield demo.local_url, img, root / "labels.png", bad, store
    demo.close()


def test_teach_api_and_bad_labels(server) -> None:
    url, img, lab, bad, _ = server
    c = Client(url, verbose=False)
    seg, unsure, counts, status, zip_path, png_path, dropdown = c.predict(
        handle_file(str(img)), handle_file(str(lab)), "red, other", 0.5, api_name="/teach")
    assert Path(seg).is_file() and Path(zip_path).name.endswith(".zip") and status.startswith("Trained")
    with pytest.raises(AppError, match="is 10x10 but the image is 64x48") as e:
        c.predict(handle_file(str(img)), handle_file(str(bad)), "red, other", 0.5, api_name="/teach")
    assert "Traceback" not in str(e.value)


@pytest.mark.slow
def test_twenty_concurrent_teaching_sessions(server) -> None:
    url, img, lab, _, store = server
    errors: list[str] = []

    def session(i: int) -> tuple[Client, str]:
        c = Client(url, verbose=False)
        label = ""
        for k in range(3):
            try:
                out = c.predict(handle_file(str(img)), handle_file(str(lab)), f"red, other{k}", 0.5,
                                api_name="/teach")
                assert out[3].startswith("Trained"), out[3]
                label = out[3].split("**")[1]
            except Exception as e:  # noqa: BLE001 - counted, reported below
                errors.append(f"session {i} head {k}: {e!r}")
        return c, label

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        sessions = list(pool.map(session, range(20)))
    elapsed = time.perf_counter() - t0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    print(f"20 sessions x 3 heads: {elapsed:.1f} s, errors {len(errors)}, peak RSS grew {grown_mb:.0f} MB "
          f"(peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    assert errors == []
    assert len(store) == MAX_SESSIONS
    assert grown_mb < 500, f"peak memory grew by {grown_mb:.0f} MB"
    kept = [(c, label) for c, label in sessions if any(label in store.labels_of(s) for s in store._sessions)]
    gone = [(c, label) for c, label in sessions if (c, label) not in kept]
    assert len(kept) == MAX_SESSIONS and len(gone) == 20 - MAX_SESSIONS
    c, label = gone[0]
    with pytest.raises(AppError, match="cleared to make room"):
        c.predict(handle_file(str(img)), label, api_name="/predict")
    c, label = kept[0]
    assert "other2" in c.predict(handle_file(str(img)), label, api_name="/predict")[2]
