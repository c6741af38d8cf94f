"""Feature taps: named backbone layers with the geometry needed to sample them exactly.

Every tap declares its channel count, its stride ``s`` and the ``offset`` ``o`` of its
cell centres in input pixels: cell ``j`` of the tap is centred at input coordinate
``o + s * j`` (the same along y and x). For a chain of "same"-padded convolutions and
2x2/2 max pools (VGG) the offset is ``(s - 1) / 2``; for stride-2 convolutions with
symmetric padding (EfficientNet in timm) it is ``0``. ``tests/test_backbones.py``
proves every declared offset by probing the receptive field of interior cells.
(Idea after timm's ``feature_info``: consumers read this metadata, never hard-code it.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TapInfo", "parse_taps"]


@dataclass(frozen=True)
class TapInfo:
    """Geometry of one feature tap.

    Attributes:
        name: tap name, e.g. ``"conv3_3"``.
        channels: number of feature channels C.
        stride: input pixels per feature cell s.
        offset: input coordinate of the centre of cell 0, o (cell j is at o + s * j).
    """

    name: str
    channels: int
    stride: int
    offset: float

    def cell_coordinate(self, pixel: float) -> float:
        """Continuous cell coordinate ``(pixel - offset) / stride`` of an input pixel."""
        return (pixel - self.offset) / self.stride


def parse_taps(requested: str | Sequence[str] | int | None, available: Sequence[str]) -> list[str]:
    """Resolve a tap selection against the taps a backbone offers.

    Args:
        requested: ``None`` (all taps), an int n (the last n taps), a comma-separated
            string, or a sequence of names; negative ints in a sequence count from the end.
        available: the backbone's tap names, shallow to deep.

    Returns:
        The selected names in backbone order (shallow to deep), without duplicates.

    Raises:
        ValueError: for an unknown name, an out-of-range index or an empty selection.
    """
    names = list(available)
    if requested is None:
        return names
    if isinstance(requested, int):
        if not 1 <= requested <= len(names):
            raise ValueError(f"cannot take the last {requested} taps of {names}")
        return names[-requested:]
    if isinstance(requested, str):
        requested = [t.strip() for t in requested.split(",") if t.strip()]
    chosen: set[str] = set()
    for item in requested:
        if isinstance(item, int) or (isinstance(item, str) and item.lstrip("-").isdigit()):
            idx = int(item)
            if not -len(names) <= idx < len(names):
                raise ValueError(f"tap index {idx} is out of range for taps {names}")
            chosen.add(names[idx])
        elif item in names:
            chosen.add(item)
        else:
            raise ValueError(f"unknown tap {item!r}; this backbone has taps {names}")
    if not chosen:
        raise ValueError("the tap selection is empty")
    return [n for n in names if n in chosen]
