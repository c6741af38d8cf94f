"""Regression test of the shipped default models (assets/models/): each loads, and its
metrics on a small fixed slice of the SynthScenes test split match the model card's
figures (assets/models/regression.json, written by train/eval.py) within a tolerance.
A change that breaks the predictor, the models or the data shows up here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelnet.data import SynthScenes
from pixelnet.evaluation.evaluate import evaluate
from pixelnet.io import load_model, load_models

MODELS = Path(__file__).resolve().parents[1] / "assets" / "models"
CARD = json.loads((MODELS / "regression.json").read_text()) if (MODELS / "regression.json").exists() else {}
# matching in the BSDS protocol is randomised (correspondPixels seeds from the clock): edges get more room
# (fractions for seg and edges; degrees and percent for normals)
TOLERANCE = {"seg": 0.005, "normals_deg": 0.1, "normals_pct": 0.2, "edges": 0.02}


def test_model_card_lists_all_tasks():
    assert sorted(CARD.get("tasks", {})) == ["edges", "normals", "seg"]


def test_models_share_one_backbone():
    models = load_models({t: MODELS / t for t in ("seg", "normals", "edges")})
    assert models["seg"].backbone is models["normals"].backbone is models["edges"].backbone


@pytest.mark.slow
@pytest.mark.parametrize("task", ["seg", "normals", "edges"])
def test_metrics_on_fixed_test_slice(task):
    entry = CARD["tasks"][task]
    s = entry["slice"]
    data = SynthScenes("test", size=tuple(s["size"]), length=s["limit"], seed_offset=s["seed"])
    got = evaluate(load_model(MODELS / task, task=task), data, scales=tuple(s["scales"]), device="cpu")
    for key, expected in entry["metrics"].items():
        tol = TOLERANCE[task] if task != "normals" else TOLERANCE[
            "normals_pct" if key.startswith("within") else "normals_deg"]
        assert got[key] == pytest.approx(expected, abs=tol), (key, got[key], expected)


def test_the_real_object_seg_model_is_offered_beside_the_default():
    """assets/models/seg_objects (real-object composites) is a second Segmentation choice;
    SynthScenes' seg stays the default, and both share the one backbone."""
    from demo.models import AUTO_SEG_LABEL, REPO, ModelBank, discover_models

    choices = discover_models(REPO)
    labels = list(choices["seg"])
    assert labels[0] == AUTO_SEG_LABEL and "assets/models/seg" in labels and "assets/models/seg_objects" in labels
    bank = ModelBank(choices)
    # the default picks the real-photo model (#25: the where model, named by the teacher) for photos
    # and SynthScenes' seg for its examples
    assert bank.resolve("seg") == "assets/models/seg_photos"
    assert bank.resolve("seg", has_ground_truth=True) == "assets/models/seg"
    objects = bank.get("seg", "assets/models/seg_objects")
    assert objects.config.class_names[0] == "background" and "animal" in objects.config.class_names
    assert objects.backbone is bank.get("seg").backbone
    # trained on stratified pixels, then corrected for that prior (train/prior_correct.py)
    record = objects.config.provenance["prior_correction"]
    assert record["sampler"] == objects.config.provenance["args"]["sampler"] == "stratified"
    shift = record["bias_shift"]
    assert shift["background"] > 0 and all(v < 0 for k, v in shift.items() if k != "background")
