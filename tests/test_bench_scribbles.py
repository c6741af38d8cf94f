"""Simulated strokes (pixelnet.teach.simulate) and a tiny run of bench/bench_scribbles.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_scribbles  # noqa: E402
from pixelnet.data import render_scene  # noqa: E402
from pixelnet.teach.simulate import simulate_scribbles  # noqa: E402


@pytest.mark.parametrize("fraction", [0.001, 0.005, 0.02])
def test_strokes_lie_inside_their_regions_at_the_fraction(fraction: float) -> None:
    seg = render_scene(2_000_003, (128, 128))["seg"]
    s = simulate_scribbles(seg, fraction, seed=1, margin=3)
    labelled = s > 0
    assert ((s[labelled] - 1) == seg[labelled]).all()  # the class of the region it is in
    for c in np.unique(s[labelled]):
        region = np.pad(seg == c - 1, 1)
        dist = ndimage.distance_transform_edt(region)[1:-1, 1:-1]
        assert (dist[s == c] > 3).all()  # away from the border
    classes = len(np.unique(seg))  # each class quota is rounded to whole pixels
    assert 0.5 * fraction <= labelled.mean() <= 1.05 * fraction + classes / seg.size
    np.testing.assert_array_equal(s, simulate_scribbles(seg, fraction, seed=1, margin=3))
    assert not np.array_equal(s, simulate_scribbles(seg, fraction, seed=2, margin=3))


def test_bench_scribbles_tiny_run(tmp_path: Path) -> None:
    args = bench_scribbles.get_args_parser().parse_args(
        ["--sizes", "64", "--scenes", "1", "--fractions", "0.02", "--trees", "3", "--threads", "1",
         "--json", str(tmp_path / "s.json")])
    assert bench_scribbles.main(args) == 0
    out = json.loads((tmp_path / "s.json").read_text())
    (row,) = out["rows"]
    assert 0 <= row["pixelnet_miou"] <= 1 and 0 <= row["anchor_miou"] <= 1 and row["labelled"] > 0
    assert out["summary"][0]["pixelnet_update_median_s"] > 0
