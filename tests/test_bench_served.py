"""Smoke test of bench/bench_served.py: its client phases against a tiny in-process app (seconds)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_app_support import tiny_explorer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts

from bench import bench_served  # noqa: E402
from demo.app import build_demo, launch  # noqa: E402


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory):
    demo = build_demo(tiny_explorer(tmp_path_factory.mktemp("served")))
    launch(demo, host="127.0.0.1", port=None, prevent_thread_lock=True)
    yield demo.local_url
    demo.close()


def test_measure_reports_median_and_p90_of_both_endpoints(url: str, tmp_path: Path) -> None:
    args = bench_served.get_args_parser().parse_args(["--sessions", "2", "--calls", "1", "--alone", "1"])
    cells = bench_served.measure(url, bench_served.inputs(tmp_path, 64), args, log=lambda _: None)
    assert set(cells) == set(bench_served.ENDPOINTS)
    for endpoint in bench_served.ENDPOINTS:
        alone, loaded = cells[endpoint]["alone"], cells[endpoint]["loaded"]
        assert alone["errors"] == [] and loaded["errors"] == [], (alone, loaded)
        assert alone["n"] == 1 and loaded["n"] == 2
        assert 0 < loaded["median_s"] <= loaded["p90_s"] <= loaded["max_s"]
