"""The backbone contract: an ``nn.Module`` that maps images to a dict of named tap maps."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..taps import TapInfo, parse_taps

__all__ = ["Backbone", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """Base class of all backbones.

    Subclasses fill ``self.tap_info`` (ordered shallow to deep) and implement
    ``_forward_taps``. Inputs are normalised images ``(B, 3, H, W)``; normalisation
    constants are in ``mean``/``std`` and applied by the caller (the model).
    """

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __init__(self) -> None:
        super().__init__()
        self.tap_info: dict[str, TapInfo] = {}

    @property
    def tap_names(self) -> list[str]:
        return list(self.tap_info)

    def taps(self, names: str | Sequence[str] | int | None = None) -> list[TapInfo]:
        """TapInfo of a selection (see :func:`pixelnet.taps.parse_taps`)."""
        return [self.tap_info[n] for n in parse_taps(names, self.tap_names)]

    def forward(self, x: torch.Tensor, taps: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Compute tap maps.

        Args:
            x: normalised images ``(B, 3, H, W)``.
            taps: names to return (default: all). Computation stops at the deepest one.

        Returns:
            Ordered dict name -> ``(B, C_tap, ceil-or-floor(H / s), ...)`` feature map.
        """
        wanted = parse_taps(list(taps) if taps is not None else None, self.tap_names)
        return self._forward_taps(x, wanted)

    def _forward_taps(self, x: torch.Tensor, wanted: list[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError
