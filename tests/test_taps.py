import pytest

from pixelnet.taps import TapInfo, parse_taps

NAMES = ["a", "b", "c", "d"]


def test_parse_taps_forms():
    assert parse_taps(None, NAMES) == NAMES
    assert parse_taps(2, NAMES) == ["c", "d"]
    assert parse_taps("d,a", NAMES) == ["a", "d"]  # backbone order, shallow to deep
    assert parse_taps(["b", -1], NAMES) == ["b", "d"]
    assert parse_taps(["a", "a"], NAMES) == ["a"]


@pytest.mark.parametrize("bad", [["x"], [7], 0, 5, "", ["-9"]])
def test_parse_taps_rejects(bad):
    with pytest.raises(ValueError):
        parse_taps(bad, NAMES)


def test_cell_coordinate():
    t = TapInfo("conv3_3", 256, 4, 1.5)
    assert t.cell_coordinate(1.5) == 0.0
    assert t.cell_coordinate(5.5) == 1.0
