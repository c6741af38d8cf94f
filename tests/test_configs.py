"""The recipes in ``configs/`` (#15, item 1): every file resolves through its CLI's parser into
options the CLI accepts, unknown keys are refused, and the shipped models' files are exactly
the options those models were trained with."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TINY_BACKBONE_KWARGS

from pixelnet import build_backbone
from pixelnet.engine.config import ConfigError, apply_yaml_defaults, parse_args

ROOT = Path(__file__).resolve().parents[1]
ALL_CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
SETTINGS = [c for c in ALL_CONFIGS if c.parent.name == "experiments"]  # train/experiments.py --settings
CONFIGS = [c for c in ALL_CONFIGS if c not in SETTINGS]  # --config files of a CLI's options
NOT_RECIPE = ("out", "config", "resume", "data_root")  # where a run reads and writes, not how it trains


def load_module(rel: str) -> Any:
    name = "pixelnet_cfg_" + rel.replace("/", "_").replace(".py", "")
    if name not in sys.modules:
        sys.path.insert(0, str(ROOT))
        spec = importlib.util.spec_from_file_location(name, ROOT / rel)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def cli_of(config: Path) -> str:
    """The command-line tool a config file is for."""
    return "bench/bench_train_step.py" if config.parent.name == "bench" else "train/run.py"


def rel(config: Path) -> str:
    return str(config.relative_to(ROOT))


def test_there_are_configs_for_the_paper_and_the_shipped_models() -> None:
    names = {rel(c) for c in ALL_CONFIGS}
    for need in ("configs/paper/pascal_context_seg.yaml", "configs/paper/nyuv2_normals.yaml",
                 "configs/paper/hed_bsds_edges.yaml", "configs/paper/voc2012_seg.yaml",
                 "configs/default_models/seg.yaml", "configs/default_models/normals.yaml",
                 "configs/default_models/edges.yaml", "configs/bench/train_step_paper_mlp.yaml",
                 "configs/experiments/findings.yaml", "configs/experiments/quick.yaml"):
        assert need in names


def _composites_root(tmp: Path) -> Path:
    """A cache whose cut-out folders are the shipped real-object model's classes (the class list
    of ``--data composites`` is read from the root)."""
    classes = json.loads((ROOT / "assets/models/seg_objects/config.json").read_text())["config"]["class_names"]
    for c in classes[1:]:
        (tmp / "cutouts" / c).mkdir(parents=True)
        (tmp / "cutouts" / c / "x.png").write_bytes(b"")
    return tmp


@pytest.mark.parametrize("config", CONFIGS, ids=rel)
def test_config_resolves_through_its_parser(config: Path, tmp_path: Path) -> None:
    module = load_module(cli_of(config))
    data = yaml.safe_load(config.read_text())
    assert isinstance(data, dict) and data, f"{rel(config)} is not a mapping of options"
    argv = ["--config", str(config)]
    if cli_of(config) == "train/run.py":
        argv += ["--out", "runs/unused"] + ([] if "task" in data else ["--task", "seg"])
        if data.get("data") == "composites":
            argv += ["--data-root", str(_composites_root(tmp_path))]
    args = parse_args(module.get_args_parser(), argv)
    if cli_of(config) != "train/run.py":
        return
    module.check_args(args)  # the options train/run.py checks before touching any file
    config_ = module.model_config(args)
    backbone = build_backbone(args.backbone, **TINY_BACKBONE_KWARGS[args.backbone])
    names = [t.name for t in backbone.taps()]
    assert config_.taps is None or set(config_.taps) <= set(names), f"{rel(config)}: taps not in {names}"
    assert (args.iters is None) != (args.epochs is None), f"{rel(config)}: give the length once (iters or epochs)"


@pytest.mark.parametrize("task", ["seg", "normals", "edges", "seg_objects", "seg_photos"])
def test_default_model_configs_are_the_shipped_recipes(task: str) -> None:
    """``configs/default_models/TASK.yaml`` resolves to what ``assets/models/TASK`` was trained with."""
    run = load_module("train/run.py")
    trained = json.loads((ROOT / "assets" / "models" / task / "config.json").read_text())
    recorded = trained["config"]["provenance"]["args"]
    args = vars(parse_args(run.get_args_parser(), ["--config", str(ROOT / f"configs/default_models/{task}.yaml")]))
    differ = {k: (v, args.get(k)) for k, v in recorded.items() if k not in NOT_RECIPE and args.get(k) != v}
    assert not differ, f"recorded vs config: {differ}"
    # the test-time augmentation the model records (set after training on some) is the recipe's too
    assert trained["config"].get("tta_scales") == args["tta_scales"]
    assert trained["config"].get("tta_mirror", False) == args["tta_mirror"]


@pytest.mark.parametrize("config", CONFIGS, ids=rel)
def test_unknown_and_bad_keys_are_refused(config: Path, tmp_path: Path) -> None:
    module = load_module(cli_of(config))
    data = yaml.safe_load(config.read_text())
    for bad in ({"mlp-widht": 5}, {"no-such-option": True}):
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump({**data, **bad}))
        with pytest.raises(ConfigError, match="unknown option"):
            apply_yaml_defaults(module.get_args_parser(), path)
        with pytest.raises(SystemExit):
            parse_args(module.get_args_parser(), ["--config", str(path)])


def test_yaml_values_mean_what_the_flags_mean(tmp_path: Path) -> None:
    run = load_module("train/run.py")
    path = tmp_path / "c.yaml"
    cases = [
        ({"mlp-width": 4096}, "mlp_width", [4096]),  # a scalar for a comma-list option
        ({"mlp-width": [128, 64]}, "mlp_width", [128, 64]),
        ({"mlp-width": "128,64"}, "mlp_width", [128, 64]),
        ({"scales": [0.5, 1]}, "scales", [0.5, 1.0]),
        ({"lr": "1e-3"}, "lr", 1e-3),
        ({"no-flip": True}, "flip", False),  # a flag's own name
        ({"no-flip": False}, "flip", True),
        ({"flip": False}, "flip", False),  # its destination
        ({"scratch": True}, "pretrained", False),
        ({"amp": False}, "amp", False),
    ]
    for data, dest, want in cases:
        path.write_text(yaml.safe_dump(data))
        assert getattr(parse_args(run.get_args_parser(), ["--config", str(path)]), dest) == want, data
    path.write_text(yaml.safe_dump({"mlp-width": 4096}))
    assert parse_args(run.get_args_parser(), ["--config", str(path), "--mlp-width", "8"]).mlp_width == [8]
    for bad, match in (({"scratch": True, "pretrained": True}, "contradicts"), ({"no-flip": 1}, "flag"),
                       ({"head": "conv"}, "must be one of"), ({"iters": "many"}, "bad value")):
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(ConfigError, match=match):
            apply_yaml_defaults(run.get_args_parser(), path)


@pytest.mark.parametrize(("name", "quick"), [("findings", False), ("quick", True)])
def test_experiment_settings_files_are_the_code_defaults(name: str, quick: bool) -> None:
    ex = load_module("train/experiments.py")
    base = ex.Settings(**(ex.QUICK if quick else {}))
    loaded = ex.load_settings(ROOT / f"configs/experiments/{name}.yaml", ex.Settings(size=7, seed=9))
    assert loaded == base


def test_experiment_settings_refuse_unknown_fields_and_wrong_types(tmp_path: Path) -> None:
    ex = load_module("train/experiments.py")
    path = tmp_path / "s.yaml"
    for bad, match in (({"sise": 64}, "unknown setting"), ({"size": "64"}, "must be a int"),
                       ({"taps": "s2,s4"}, "must be a tuple"), ({"pretrained": 1}, "must be a bool")):
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(ConfigError, match=match):
            ex.load_settings(path, ex.Settings())
    path.write_text(yaml.safe_dump({"lr": 1, "train-scenes": 10}))
    st = ex.load_settings(path, ex.Settings())
    assert st.lr == 1.0 and isinstance(st.lr, float) and st.train_scenes == 10


def test_docs_point_at_every_config() -> None:
    docs = "".join((ROOT / p).read_text() for p in ("docs/training.md", "assets/models/README.md", "README.md",
                                                     "docs/benchmarks.md", "docs/experiments.md"))
    missing = [rel(c) for c in ALL_CONFIGS if rel(c) not in docs]
    assert not missing, f"configs no document mentions: {missing}"
