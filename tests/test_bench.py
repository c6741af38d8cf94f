"""Smoke tests of the benchmarks (bench/): tiny settings, in-process, a few seconds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts

from bench import _measure, bench_inference, bench_train_step  # noqa: E402
from pixelnet import ModelConfig, build_backbone, build_model  # noqa: E402

TINY = {"head": "mlp", "mlp_width": 8, "taps": ["conv1_2", "conv3_3", "conv5_3"], "size": 32, "pixels": 20,
        "classes": 3, "vgg_width": 0.0625, "steps": 1, "warmup": 1, "threads": 0, "device": "cpu"}


@pytest.mark.parametrize("mode", bench_train_step.MODES)
def test_train_step_measure_reports_speed_and_memory(mode: str) -> None:
    res = bench_train_step.measure({**TINY, "mode": mode})
    assert res["bps"] > 0 and res["peak_mb"] >= 0
    assert res["pixels_per_step"] == (20 if mode == "sampled" else 32 * 32)


def test_dense_logits_cover_every_pixel_and_match_the_sampler() -> None:
    model = bench_train_step.build({**TINY, "head": "linear"}, torch.device("cpu")).eval()
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        dense = bench_train_step.dense_logits(model, images)  # (H*W, K)
        coords = torch.tensor([[0, 0, 0], [0, 5, 17], [0, 31, 31]])
        sampled = model(images, coords)
    assert dense.shape == (32 * 32, 3)
    torch.testing.assert_close(dense[coords[:, 1] * 32 + coords[:, 2]], sampled, atol=1e-5, rtol=1e-4)


def test_train_step_table_and_json_keys(tmp_path: Path) -> None:
    args = bench_train_step.get_args_parser().parse_args(
        ["--heads", "linear", "--vgg-width", "0.0625", "--size", "32", "--pixels", "20", "--classes", "3",
         "--steps", "1", "--json", str(tmp_path / "t.json")])
    calls = []

    def fake(script: str, payload: dict) -> dict:  # the subprocess is covered by the measure tests above
        calls.append(payload["mode"])
        return {"bps": 2.0 if payload["mode"] == "sampled" else 0.5, "peak_mb": 10.0 if payload["mode"] == "sampled"
                else 40.0, "step_s": 1.0}

    orig = bench_train_step.run_isolated
    bench_train_step.run_isolated = fake
    try:
        bench_train_step.main(args)
    finally:
        bench_train_step.run_isolated = orig
    data = json.loads((tmp_path / "t.json").read_text())
    assert calls == ["sampled", "dense"]
    r = data["linear"]
    assert {"sampled", "dense", "bps_ratio", "mem_ratio", "config"} <= set(r)
    assert r["bps_ratio"] == pytest.approx(4.0) and r["mem_ratio"] == pytest.approx(4.0)
    assert {"torch", "threads", "cpu"} <= set(data["machine"])


def test_inference_pieces_on_a_tiny_model() -> None:
    bb = build_backbone("vgg16", width=0.0625, fc_channels=64)
    models = {t: build_model(ModelConfig(task=t, backbone="vgg16", mlp_widths=[8, 8],
                                         class_names=["a", "b"] if t == "seg" else None), backbone=bb).eval()
              for t in ("seg", "edges")}
    assert bench_inference.agreement(models, size=64, pixels=256) < 1e-4
    t = bench_inference.time_size(models, 64, reps=1)
    assert t["backbone_s"] > 0 and t["heads_s"] > 0 and t["head_gmac"] > 0
    assert _measure.matmul_peak_gflops(n=128, reps=1) > 0


def test_shipped_widths_read_model_configs(tmp_path: Path) -> None:
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "config.json").write_text(json.dumps({"config": {"task": "seg", "mlp_widths": [64, 32]}}))
    w = bench_inference.shipped_widths(tmp_path, 256)
    assert w["seg"] == [64, 32] and w["edges"] == [256, 256]


@pytest.mark.slow
def test_bench_demo_runs_every_measurement(tmp_path: Path) -> None:
    """bench_demo with tiny models: in-process callbacks, multi-scale and the app served in its own process."""
    from test_app_support import tiny_model_dirs

    from bench import bench_demo

    models = tiny_model_dirs(tmp_path)
    args = bench_demo.get_args_parser().parse_args(
        ["--model", str(models), "--size", "64", "--reps", "1", "--clicks", "2", "--multiscale-reps", "1",
         "--e2e-reps", "1", "--json", str(tmp_path / "demo.json")])
    res = bench_demo.main(args)
    assert res["models"]["seg"] == str(models / "seg")
    for key in ("predict_median_s", "predict_heads_only_median_s", "predict_multiscale_median_s",
                "served_predict_median_s", "inspect_click_median_ms", "inspect_api_median_ms"):
        assert res[key] > 0, key
    assert json.loads((tmp_path / "demo.json").read_text())["served_predict_median_s"] == res["served_predict_median_s"]


def test_repeats_report_median_spread_and_load(tmp_path: Path) -> None:
    """#15 item 5: at least 5 repeats by default, median and min-max, load before and after."""
    assert _measure.spread([3.0, 1.0, 2.0, 5.0, 4.0]) == {"median": 3.0, "min": 1.0, "max": 5.0, "n": 5}
    with pytest.raises(ValueError):
        _measure.spread([])
    assert bench_train_step.get_args_parser().parse_args([]).steps >= 5
    assert bench_inference.get_args_parser().parse_args([]).reps >= 5
    res = bench_train_step.measure({**TINY, "mode": "sampled", "steps": 3, "warmup": 0})
    assert res["step_s_min"] <= res["step_s"] <= res["step_s_max"] and res["bps_min"] <= res["bps"] <= res["bps_max"]
    args = bench_train_step.get_args_parser().parse_args(
        ["--heads", "linear", "--vgg-width", "0.0625", "--size", "32", "--pixels", "20", "--classes", "3",
         "--steps", "2", "--warmup", "0", "--json", str(tmp_path / "t.json")])
    data = bench_train_step.main(args)
    assert len(data["load_before"]) == 3 and len(data["load_after"]) == 3
    r = data["linear"]
    assert r["bps_ratio_min"] <= r["bps_ratio"] <= r["bps_ratio_max"]
    assert "do not quote" in bench_train_step.format_table(data, ["linear"])


def test_head_step_modes_measure_and_the_table_has_every_tap_set(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import bench_head_step
    cfg = {"taps": ["s4", "head"], "mlp_widths": [8], "images": 2, "size": 64, "pixels": 50, "classes": 3,
           "steps": 1, "warmup": 1, "threads": 1, "device": "cpu"}
    for mode in bench_head_step.MODES:
        res = bench_head_step.measure({**cfg, "mode": mode})
        assert res["step_s"] > 0 and res["hypercolumn_dim"] == 24 + 1280
    args = bench_head_step.get_args_parser().parse_args(
        ["--tap-sets", "s4;s4,head", "--steps", "1", "--json", str(tmp_path / "h.json")])
    seen = []

    def fake(script: str, payload: dict) -> dict:
        seen.append((tuple(payload["taps"]), payload["mode"]))
        return {"step_s": 1.0 if payload["mode"] == "per_tap" else 3.0, "step_s_min": 0.9, "step_s_max": 1.1,
                "hypercolumn_dim": 7}

    monkeypatch.setattr(bench_head_step, "run_isolated", fake)
    out = bench_head_step.main(args)
    assert seen == [(("s4",), "per_tap"), (("s4",), "hypercolumn"), (("s4", "head"), "per_tap"),
                    (("s4", "head"), "hypercolumn")]
    assert [r["speedup"] for r in out["rows"]] == [3.0, 3.0]
    assert json.loads((tmp_path / "h.json").read_text())["rows"][1]["taps"] == ["s4", "head"]
