"""Smoke test of train/experiments.py: one finding with --quick settings, and T3 from a JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train import experiments  # noqa: E402


def _args(*argv: str):
    return experiments.get_args_parser().parse_args(list(argv))


def test_quick_t4_and_t3_write_results(tmp_path: Path) -> None:
    side = {"bps": 1.0, "peak_mb": 1.0}
    bench = {"machine": {"torch": "x", "threads": 1, "cpu": "c", "load_avg_1_5_15": []},
             "mlp": {"sampled": {"bps": 4.0, "peak_mb": 10.0}, "dense": {"bps": 1.0, "peak_mb": 50.0},
                     "bps_ratio": 4.0, "mem_ratio": 5.0, "config": {"mlp_width": 8},
                     "paper": {"sampled": side, "dense": side, "bps_ratio": 17.5, "mem_ratio": 8.4}}}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    out = tmp_path / "exp"
    res = experiments.main(_args("--quick", "--only", "T11,T3", "--out", str(out),
                                 "--t3-json", str(tmp_path / "bench.json")))
    assert set(res) == {"T3", "T4"}
    assert res["T3"]["agrees"] is True
    text = (out / "RESULTS.md").read_text()
    assert "T4/T11" in text and "17.5x" in text and "4.0x" in text
    assert (out / "curves_T4.png").stat().st_size > 0
    assert len(res["T4"]["runs"]) == 2 and all(r["curve"] for r in res["T4"]["runs"])

    # --only adds to the findings of the folder (same settings) instead of replacing them ...
    experiments.main(_args("--quick", "--only", "T3", "--out", str(out), "--t3-json", str(tmp_path / "bench.json")))
    text = (out / "RESULTS.md").read_text()
    assert "T4/T11" in text and "17.5x" in text and "Kept from an earlier run" in text and ": T4." in text
    assert set(json.loads((out / "results.json").read_text())["results"]) == {"T3", "T4"}
    # ... but never mixes results of different settings
    experiments.main(_args("--quick", "--iters", "7", "--only", "T3", "--out", str(out),
                           "--t3-json", str(tmp_path / "bench.json")))
    text = (out / "RESULTS.md").read_text()
    assert "T4/T11" not in text and "Kept from" not in text


def test_unknown_finding_is_refused() -> None:
    with pytest.raises(SystemExit, match="T9"):
        experiments.parse_only("T2,T9")
