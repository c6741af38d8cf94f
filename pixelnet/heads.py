"""Per-pixel predictors over hypercolumns (PixelNet Sec. 3 and Table 2).

Both heads expose their first layer as a linear map ``(W, b)`` of the hypercolumn
(``first_linear``) and the rest of the computation (``after_first``), which lets the
dense path (:mod:`pixelnet.dense`) apply the first layer tap by tap at coarse resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLPHead", "LinearHead", "HEADS", "build_head"]


class MLPHead(nn.Module):
    """The paper's MLP: ``Linear -> ReLU -> Dropout`` per hidden width, then ``Linear`` to K.

    Args:
        in_channels: hypercolumn width C.
        out_channels: K outputs.
        widths: hidden widths (paper: 4096, 4096).
        dropout: dropout probability after each hidden layer (paper: 0.5).
    """

    def __init__(self, in_channels: int, out_channels: int, *, widths: Sequence[int] = (4096, 4096),
                 dropout: float = 0.5) -> None:
        super().__init__()
        if not widths:
            raise ValueError("an MLP head needs at least one hidden width; use the linear head otherwise")
        dims = [in_channels, *widths]
        self.first = nn.Linear(dims[0], dims[1])
        rest: list[nn.Module] = [nn.ReLU(inplace=True), nn.Dropout(dropout)]
        for a, b in zip(dims[1:-1], dims[2:]):
            rest += [nn.Linear(a, b), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        rest.append(nn.Linear(dims[-1], out_channels))
        self.rest = nn.Sequential(*rest)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(P, C)`` hypercolumns -> ``(P, K)`` raw outputs."""
        return self.rest(self.first(h))

    def first_linear(self) -> tuple[torch.Tensor, torch.Tensor]:
        """First layer as ``(W (D, C), b (D,))``."""
        return self.first.weight, self.first.bias

    def after_first(self, z: torch.Tensor) -> torch.Tensor:
        """``(P, D)`` first-layer outputs -> ``(P, K)``."""
        return self.rest(z)

    def output_layer(self) -> nn.Linear:
        """The last ``Linear`` (``K`` outputs), e.g. to shift its bias."""
        return self.rest[-1]


class LinearHead(nn.Module):
    """Linear predictor over the hypercolumn, optionally batch-normalising each tap first
    (Table 2's "Linear (bn)" vs "Linear (no bn)").

    Args:
        tap_channels: channels of each tap, in hypercolumn order.
        out_channels: K outputs.
        batch_norm: normalise each tap's features (BatchNorm1d over sampled pixels).
    """

    def __init__(self, tap_channels: Sequence[int], out_channels: int, *, batch_norm: bool = False) -> None:
        super().__init__()
        self.tap_channels = list(tap_channels)
        c = sum(self.tap_channels)
        self.norm = nn.BatchNorm1d(c) if batch_norm else None  # per channel == per tap group
        self.linear = nn.Linear(c, out_channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(P, C)`` hypercolumns -> ``(P, K)`` raw outputs."""
        if self.norm is not None:
            h = self.norm(h)
        return self.linear(h)

    def first_linear(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole head as ``(W (K, C), b (K,))``, batch norm folded in (eval statistics)."""
        w, b = self.linear.weight, self.linear.bias
        if self.norm is None:
            return w, b
        n = self.norm
        scale = (n.weight if n.affine else 1.0) / torch.sqrt(n.running_var + n.eps)  # (C,)
        shift = (n.bias if n.affine else 0.0) - n.running_mean * scale
        return w * scale[None, :], b + w @ shift

    def after_first(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def output_layer(self) -> nn.Linear:
        """The ``Linear`` to the ``K`` outputs (its bias is the output bias also with batch norm)."""
        return self.linear


HEADS = ("mlp", "linear")


def build_head(name: str, tap_channels: Sequence[int], out_channels: int, *,
               widths: Sequence[int] = (4096, 4096), dropout: float = 0.5,
               batch_norm: bool = False) -> MLPHead | LinearHead:
    """Build a head by name (``"mlp"`` or ``"linear"``).

    Raises:
        ValueError: for an unknown name.
    """
    if name == "mlp":
        return MLPHead(sum(tap_channels), out_channels, widths=widths, dropout=dropout)
    if name == "linear":
        return LinearHead(tap_channels, out_channels, batch_norm=batch_norm)
    raise ValueError(f"unknown head {name!r}; choose from {HEADS}")
