"""Smoke test of bench/bench_features.py: tiny models and images, in-process, a few seconds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts

from bench import bench_features  # noqa: E402
from pixelnet import ModelConfig, Predictor, build_backbone, build_model, save_model  # noqa: E402


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    bb = build_backbone("vgg16", width=0.0625, fc_channels=16)
    for task in ("seg", "edges"):
        cfg = ModelConfig(task=task, backbone="vgg16", taps=["conv2_2", "conv4_3", "fc7"], mlp_widths=[4],
                          class_names=["a", "b"] if task == "seg" else None,
                          backbone_kwargs={"width": 0.0625, "fc_channels": 16})
        save_model(build_model(cfg, backbone=bb), root / task)
    return root


def test_run_views_times_every_view(models_dir: Path) -> None:
    pred = Predictor(bench_features.load(models_dir), device="cpu")
    img = np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8)
    res = bench_features.run_views(pred, img, taps="conv1_2,conv4_3,fc7", clicks=2, k=3, reps=1)
    info = pred.models["seg"].backbone.tap_info
    assert res["taps"] == ["conv1_2", "conv4_3", "fc7"]
    assert res["channels"] == sum(info[t].channels for t in res["taps"])
    for space in ("raw", "standardised"):
        assert 0 < res[space]["click_median_s"] <= res[space]["click_max_s"]
    assert res["pca_kmeans_median_s"] > 0 and res["pca_per_tap_median_s"] > 0


def test_main_writes_json_and_table(models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "f.json"
    args = bench_features.get_args_parser().parse_args(
        ["--models-dir", str(models_dir), "--size", "64", "--clicks", "2", "--reps", "1", "--k", "2",
         "--mem-size", "64", "--json", str(out)])
    calls = []

    def fake(script: str, payload: dict) -> dict:  # the worker itself runs below, in-process
        calls.append(payload)
        return bench_features.memory_worker(payload)

    orig = bench_features.run_isolated
    bench_features.run_isolated = fake
    try:
        bench_features.main(args)
    finally:
        bench_features.run_isolated = orig
    data = json.loads(out.read_text())
    assert calls and calls[0]["size"] == 64
    assert {"machine", "raw", "standardised", "pca_kmeans_median_s", "memory"} <= set(data)
    assert data["memory"]["peak_mb"] > -64 and data["memory"]["seconds"] > 0 and data["channels"] > 0
    assert "click (all maps)" in capsys.readouterr().out
