"""Shared fixtures: tiny models so the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
torch.set_num_threads(1)  # tiny test ops run faster single-threaded on a shared 2-core machine

# Shape-changing options that make every registered backbone tiny (geometry unchanged).
TINY_BACKBONE_KWARGS = {
    "vgg16": {"width": 0.0625, "fc_channels": 64},
    "vgg16_bn": {"width": 0.0625, "fc_channels": 64},
    "efficientnet_lite0": {"pretrained": False},
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def load_script():
    """Import a CLI script of ``train/`` by name (``load_script("run")``), as the tests drive
    its ``get_args_parser`` and ``main``."""
    import importlib.util

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "train" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"pixelnet_train_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
