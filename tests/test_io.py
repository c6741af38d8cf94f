"""Model files: safetensors + JSON round trip, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pixelnet import ModelConfig, build_model
from pixelnet.io import ModelFileError, load_model, load_models, save_model

TINY = {"width": 0.0625, "fc_channels": 64}


def _model(task="edges", **kw):
    cfg = ModelConfig(task=task, backbone="vgg16", mlp_widths=[16], backbone_kwargs=dict(TINY),
                      class_names=["x", "y", "z"] if task == "seg" else None, **kw)
    return build_model(cfg).eval()


def _out(model, x):
    with torch.no_grad():
        return model.dense(model.features(x), x.shape[2:])


def test_round_trip(tmp_path):
    m = _model("seg", provenance={"iters": 3})
    save_model(m, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_model(tmp_path / "m", task="seg")
    x = torch.rand(1, 3, 40, 40)
    torch.testing.assert_close(_out(loaded, x), _out(m, x))
    assert loaded.config.class_names == ["x", "y", "z"] and loaded.config.provenance == {"iters": 3}


def test_half_precision_is_close(tmp_path):
    m = _model()
    save_model(m, tmp_path / "m", half=True)
    x = torch.rand(1, 3, 40, 40)
    torch.testing.assert_close(_out(load_model(tmp_path / "m"), x), _out(m, x), atol=2e-2, rtol=2e-2)


def test_no_pickle_in_model_files(tmp_path):
    save_model(_model(), tmp_path / "m")
    head = (tmp_path / "m" / "model.safetensors").read_bytes()[:8]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    json.loads((tmp_path / "m" / "config.json").read_text())


def test_wrong_task_is_a_clear_error(tmp_path):
    save_model(_model("edges"), tmp_path / "m")
    with pytest.raises(ModelFileError, match="holds a 'edges' model"):
        load_model(tmp_path / "m", task="normals")


def test_shape_mismatch_is_a_clear_error(tmp_path):
    save_model(_model("edges"), tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["config"]["mlp_widths"] = [32]
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="shape mismatch"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("damage", ["missing_weights", "bad_json", "not_a_model", "garbage_weights", "no_dir"])
def test_damaged_files(tmp_path, damage):
    d = tmp_path / "m"
    save_model(_model(), d)
    if damage == "missing_weights":
        (d / "model.safetensors").unlink()
    elif damage == "bad_json":
        (d / "config.json").write_text("{nope")
    elif damage == "not_a_model":
        (d / "config.json").write_text('{"hello": 1}')
    elif damage == "garbage_weights":
        (d / "model.safetensors").write_bytes(b"\x00" * 100)
    else:
        d = tmp_path / "missing"
    with pytest.raises(ModelFileError):
        load_model(d)


def test_pretrained_backbone_not_stored_and_shared(tmp_path):
    cfg = dict(backbone="efficientnet_lite0", mlp_widths=[8], taps=["s8", "head"])
    seg = build_model(ModelConfig(task="seg", class_names=["a", "b"], **cfg), pretrained=True)
    edges = build_model(ModelConfig(task="edges", **cfg), backbone=seg.backbone)
    save_model(seg, tmp_path / "seg", backbone="pretrained")
    save_model(edges, tmp_path / "edges", backbone="pretrained")
    assert (tmp_path / "seg" / "model.safetensors").stat().st_size < 200_000
    models = load_models({"seg": tmp_path / "seg", "edges": tmp_path / "edges"})
    assert models["seg"].backbone is models["edges"].backbone
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(_out(models["seg"], x), _out(seg.eval(), x))


def _strings(value):
    """Every string in a JSON value, and every whitespace- or '='-separated token of it."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value
        for token in value.replace("=", " ").split():
            yield token.strip("'\"")


def _machine_paths(value) -> list[str]:
    return [s for s in _strings(value) if s.startswith("/") or str(Path.home()) in s]


def test_saved_provenance_records_no_machine_paths(tmp_path, monkeypatch):
    home, repo = tmp_path / "home", tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(repo)
    prov = {"command": f"python train/run.py --data-root {home}/data/real --out={repo}/runs/x --config c.yaml",
            "args": {"data_root": f"{home}/data/real", "out": f"{repo}/runs/x", "resume": str(repo),
                     "iters": 3, "elsewhere": "/srv/data"},
            "images": [f"{home}/a b.png"]}
    save_model(_model(provenance=prov), tmp_path / "m")
    rec = json.loads((tmp_path / "m" / "config.json").read_text())["config"]["provenance"]
    assert rec["command"] == "python train/run.py --data-root ~/data/real --out=runs/x --config c.yaml"
    assert rec["args"] == {"data_root": "~/data/real", "out": "runs/x", "resume": ".", "iters": 3,
                           "elsewhere": "/srv/data"}  # outside home and the working directory: kept
    assert rec["images"] == ["~/a b.png"]
    assert load_model(tmp_path / "m").config.provenance == rec


@pytest.mark.parametrize("config", sorted((Path(__file__).resolve().parents[1] / "assets" / "models").glob(
    "*/config.json")), ids=lambda p: p.parent.name)
def test_shipped_models_record_no_machine_paths(config):
    assert _machine_paths(json.loads(config.read_text())) == []
