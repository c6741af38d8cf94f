"""Smoke test of bench/bench_predict.py: one tiny mode end to end, and the torchrun command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts

from bench import bench_predict  # noqa: E402


def test_one_mode_reports_time_and_identity(tmp_path: Path) -> None:
    args = bench_predict.get_args_parser().parse_args(
        ["--modes", "1x1", "--images", "2", "--size", "48", "--reps", "1",
         "--model", str(ROOT / "assets/models/seg"), "--json", str(tmp_path / "p.json")])
    bench_predict.main(args)
    r = json.loads((tmp_path / "p.json").read_text())["modes"]["1x1"]
    assert r["median_s"] > 0 and r["identical_to_1x1"] is True and r["speedup_vs_1x1"] == 1.0


def test_modes_are_processes_by_threads() -> None:
    cmd = bench_predict.command("2x1", Path("i"), Path("o"), ["m"])
    assert cmd[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    assert cmd[-2:] == ["--threads", "1"]
