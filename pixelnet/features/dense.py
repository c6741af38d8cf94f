"""Dense hypercolumns of every pixel kept as tap maps, their exact norms and moments, and the feature spaces.

See :mod:`pixelnet.features` for why this is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from ..hypercolumn import interp_weights
from ..taps import TapInfo, parse_taps
from .interp import TapMoments, _Axis, _pixel_moments_axis, _resample, _tridiag, output_grid, pool_moments

if TYPE_CHECKING:
    from ..predictor import Predictor

SPACES: tuple[str, ...] = ("raw", "standardised")
HYPERCOLUMN = "hypercolumn"  # key of the whole-hypercolumn map next to the per-tap maps


class DenseHypercolumns:
    """The hypercolumn of every pixel of one image, held as its tap maps.

    The hypercolumn of pixel ``(y, x)`` is the concatenation, in tap order, of each tap's map
    bilinearly sampled at that pixel (:func:`pixelnet.sample_hypercolumns`).

    Args:
        features: tap name -> map ``(1, C_t, h_t, w_t)`` or ``(C_t, h_t, w_t)`` (at least the taps).
        taps: taps of the hypercolumn, in order.
        size: image size ``(H, W)`` the maps belong to.
        space: a label of the feature space (``"raw"`` or ``"standardised"``).
        budget_mb: memory budget of one band of output rows.
    """

    def __init__(self, features: Mapping[str, torch.Tensor], taps: Sequence[TapInfo], size: tuple[int, int], *,
                 space: str = "raw", budget_mb: float = 64.0) -> None:
        if not taps:
            raise ValueError("a hypercolumn needs at least one tap")
        self.taps = list(taps)
        self.size = (int(size[0]), int(size[1]))
        self.space = space
        self.budget_mb = budget_mb
        self.maps: dict[str, torch.Tensor] = {}  # name -> (C_t, h_t, w_t)
        for t in self.taps:
            if t.name not in features:
                raise ValueError(f"no map for tap {t.name!r}; have {list(features)}")
            f = features[t.name].detach()
            if f.ndim == 4:
                if f.shape[0] != 1:
                    raise ValueError(f"one image at a time: tap {t.name!r} has batch {f.shape[0]}")
                f = f[0]
            if f.ndim != 3 or f.shape[0] != t.channels:
                raise ValueError(f"tap {t.name!r}: expected ({t.channels}, h, w), got {tuple(f.shape)}")
            self.maps[t.name] = f.float()
        self._norms: dict[tuple[str, int], torch.Tensor] = {}  # (tap, stride) -> (H', W') squared norms
        self._moments: dict[str, TapMoments] | None = None

    @classmethod
    def from_predictor(cls, predictor: Predictor, task: str | None = None, taps: str | Sequence[str] | None = None, *,
                       scale: float = 1.0) -> DenseHypercolumns:
        """The hypercolumns of a :class:`pixelnet.Predictor`'s current image (its cached tap maps).

        Args:
            predictor: a Predictor with an image set.
            task: whose model's backbone (default: the first task).
            taps: tap selection among the *backbone's* taps (:func:`pixelnet.parse_taps`; default:
                the taps the model reads), e.g. ``"s2,s4,s8,s16,s32,head"``.
            scale: input scale; pixel coordinates refer to ``predictor.input_size(scale)``.
        """
        task = task or predictor.tasks[0]
        model = predictor.models[task]
        info = model.backbone.tap_info
        names = [t.name for t in model.taps] if taps is None else parse_taps(taps, list(info))
        feats = predictor.features(task, scale, taps=names)
        return cls(feats, [info[n] for n in names], predictor.input_size(scale))

    # ---- structure ---------------------------------------------------------------------
    @property
    def tap_names(self) -> list[str]:
        return [t.name for t in self.taps]

    @property
    def channels(self) -> int:
        """Hypercolumn width ``sum_t C_t``."""
        return sum(t.channels for t in self.taps)

    def slices(self) -> dict[str, slice]:
        """Tap name -> its channels in the hypercolumn."""
        out, c = {}, 0
        for t in self.taps:
            out[t.name] = slice(c, c + t.channels)
            c += t.channels
        return out

    def select(self, taps: str | Sequence[str] | None) -> DenseHypercolumns:
        """The hypercolumns of a subset of taps (shares the maps; None: all)."""
        names = parse_taps(taps, self.tap_names)
        if names == self.tap_names:
            return self
        sub = DenseHypercolumns(self.maps, [t for t in self.taps if t.name in names], self.size,
                                space=self.space, budget_mb=self.budget_mb)
        sub._norms = {k: v for k, v in self._norms.items() if k[0] in names}
        if self._moments is not None:
            sub._moments = {n: self._moments[n] for n in names}
        return sub

    def at(self, yx: torch.Tensor) -> torch.Tensor:
        """Hypercolumns at pixels.

        Args:
            yx: ``(P, 2)`` int64 pixel coordinates ``(y, x)``.

        Returns:
            ``(P, sum_t C_t)`` float32.
        """
        yx = torch.as_tensor(yx, dtype=torch.long).reshape(-1, 2)
        if len(yx) and (bool((yx < 0).any()) or bool((yx[:, 0] >= self.size[0]).any())
                        or bool((yx[:, 1] >= self.size[1]).any())):
            raise ValueError(f"pixel outside the {self.size[0]}x{self.size[1]} image")
        out = []
        for t in self.taps:  # sample_tap's formula, as column gathers of the (C, h * w) map
            f = self.maps[t.name]
            flat, w = f.reshape(t.channels, -1), f.shape[2]
            y0, y1, wy = interp_weights(yx[:, 0], f.shape[1], t.stride, t.offset)
            x0, x1, wx = interp_weights(yx[:, 1], w, t.stride, t.offset)
            top = torch.lerp(flat.index_select(1, y0 * w + x0), flat.index_select(1, y0 * w + x1), wx)
            bottom = torch.lerp(flat.index_select(1, y1 * w + x0), flat.index_select(1, y1 * w + x1), wx)
            out.append(torch.lerp(top, bottom, wy).T)
        return torch.cat(out, 1)

    def sample(self, n: int, *, seed: int = 0) -> torch.Tensor:
        """``(N, 2)`` pixel coordinates ``(y, x)``: every pixel if ``n >= H * W``, else ``n`` drawn
        uniformly without replacement (deterministic given ``seed``)."""
        h, w = self.size
        if n >= h * w:
            idx = torch.arange(h * w)
        else:
            idx = torch.randperm(h * w, generator=torch.Generator().manual_seed(seed))[:n].sort().values
        return torch.stack([idx // w, idx % w], 1)

    # ---- dense maps in row bands -------------------------------------------------------
    def _axes(self, stride: int) -> tuple[dict[str, _Axis], dict[str, _Axis]]:
        ys, xs = output_grid(self.size, stride)
        ay = {t.name: _Axis.of(ys, self.maps[t.name].shape[1], t) for t in self.taps}
        ax = {t.name: _Axis.of(xs, self.maps[t.name].shape[2], t) for t in self.taps}
        return ay, ax

    def bands(self, stride: int, channels: int) -> Iterator[slice]:
        """Slices of output rows whose ``(channels, R, W')`` float32 blocks fit the budget."""
        ys, xs = output_grid(self.size, stride)
        rows = max(1, int(self.budget_mb * 2**20 // (4 * 4 * max(1, channels) * max(1, len(xs)))))
        for r0 in range(0, len(ys), rows):
            yield slice(r0, min(len(ys), r0 + rows))

    def project(self, weights: Mapping[str, torch.Tensor], bias: torch.Tensor | None = None, *, stride: int = 1,
                reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """A linear map of every hypercolumn, ``sum_t W_t h_t(p) + b``, computed at tap resolution.

        Args:
            weights: tap name -> ``(K, C_t)`` (taps left out contribute nothing).
            bias: ``(K,)`` or None.
            stride: output stride.
            reduce: applied to each band's ``(K, R, W')`` block (e.g. an argmin); bands are
                concatenated along their row dimension (dim 0 of a reduced ``(R, W')``, else dim 1).

        Returns:
            ``(K, H', W')`` float32, or the concatenated reductions.
        """
        unknown = set(weights) - set(self.maps)
        if unknown:
            raise ValueError(f"weights for unknown taps {sorted(unknown)}")
        k = next(iter(weights.values())).shape[0]
        cells = {n: torch.einsum("kc,chw->khw", w.to(self.maps[n]), self.maps[n]) for n, w in weights.items()}
        ay, ax = self._axes(stride)
        parts = []
        for sl in self.bands(stride, k):
            acc: torch.Tensor | None = None
            for n, z in cells.items():
                r = _resample(z, ay[n].part(sl), ax[n])
                acc = r if acc is None else acc.add_(r)
            assert acc is not None
            if bias is not None:
                acc += bias.to(acc).view(-1, 1, 1)
            parts.append(reduce(acc) if reduce is not None else acc)
        return torch.cat(parts, 0 if reduce is not None and parts[0].ndim == 2 else 1)

    def squared_norms(self, tap: str, stride: int = 1) -> torch.Tensor:
        """Exact ``||h_t(p)||²`` of one tap's interpolated features at every output pixel: ``(H', W')``.

        Cached per (tap, stride). Four separable resamplings of cell maps (see the module docstring).
        """
        key = (tap, stride)
        if key not in self._norms:
            full = self.maps[tap]  # (C, h, w)
            _, h, w = full.shape
            sq, hor, ver, diag = (full.new_zeros(h, w) for _ in range(4))
            for f in self._channel_groups(full):  # bounded temporaries
                sq += f.pow(2).sum(0)  # cell norms²
                if w > 1:
                    hor[:, :-1] += (f[:, :, :-1] * f[:, :, 1:]).sum(0)
                if h > 1:
                    ver[:-1] += (f[:, :-1] * f[:, 1:]).sum(0)
                if h > 1 and w > 1:
                    diag[:-1, :-1] += (f[:, :-1, :-1] * f[:, 1:, 1:]).sum(0) + (f[:, :-1, 1:] * f[:, 1:, :-1]).sum(0)
            ay, ax = self._axes(stride)
            ay_t, ax_t = ay[tap], ax[tap]
            out = []
            for sl in self.bands(stride, 4):
                ys = ay_t.part(sl)
                n2 = (_resample(sq[None], ys.squared(), ax_t.squared())
                      + 2 * _resample(hor[None], ys.squared(), ax_t.cross())
                      + 2 * _resample(ver[None], ys.cross(), ax_t.squared())
                      + 2 * _resample(diag[None], ys.cross(), ax_t.cross()))
                out.append(n2[0].clamp_min_(0))
            self._norms[key] = torch.cat(out, 0)
        return self._norms[key]

    def _channel_groups(self, f: torch.Tensor, bytes_per_value: int = 4) -> Iterator[torch.Tensor]:
        """Consecutive channel slices of ``f`` ``(C, h, w)`` of at most ``budget_mb / 8`` each."""
        per = max(1, int(self.budget_mb * 2**20 / 8 // max(1, bytes_per_value * f.shape[1] * f.shape[2])))
        for c0 in range(0, f.shape[0], per):
            yield f[c0 : c0 + per]

    # ---- feature spaces ----------------------------------------------------------------
    def moments(self) -> dict[str, TapMoments]:
        """Exact per-channel sums over the image's ``H * W`` pixels of each tap's interpolated
        features (quadratic forms with the tridiagonal Gram of the interpolation weights)."""
        if self._moments is None:
            h, w = self.size
            out = {}
            for t in self.taps:
                full = self.maps[t.name]  # (C, h_t, w_t)
                ay, dy, ey = _pixel_moments_axis(h, full.shape[1], t)
                ax, dx, ex = _pixel_moments_axis(w, full.shape[2], t)
                s, ss = [], []
                for f in self._channel_groups(full, 8):
                    f = f.double()
                    s.append(torch.einsum("chw,h,w->c", f, ay, ax))
                    ss.append((f * _tridiag(_tridiag(f, dy, ey, 1), dx, ex, 2)).sum((1, 2)))
                out[t.name] = TapMoments(h * w, torch.cat(s), torch.cat(ss))
            self._moments = out
        return self._moments

    def standardised(self, moments: Mapping[str, TapMoments] | None = None) -> DenseHypercolumns:
        """Each channel standardised over the pixels (``(f - mean) / std``), each tap then scaled by
        ``1 / sqrt(C_t)`` so that every tap has the same expected squared norm (1) in the hypercolumn.

        Args:
            moments: statistics to standardise with (default: this image's; pooled moments of
                several images give them one shared space, see :func:`feature_spaces`).
        """
        moments = moments or self.moments()
        maps = {}
        for t in self.taps:
            m = moments[t.name]
            mean = m.mean.float().view(-1, 1, 1)
            scale = (m.std.float() * math.sqrt(t.channels)).view(-1, 1, 1)
            maps[t.name] = self.maps[t.name].sub(mean).div_(scale)
        return DenseHypercolumns(maps, self.taps, self.size, space="standardised", budget_mb=self.budget_mb)


def feature_spaces(images: Sequence[DenseHypercolumns], space: str) -> list[DenseHypercolumns]:
    """The images' hypercolumns in one feature space: ``"raw"`` (unchanged) or ``"standardised"``
    (with the moments pooled over all the images, so that they are comparable)."""
    if space not in SPACES:
        raise ValueError(f"unknown feature space {space!r}; choose one of {SPACES}")
    if space == "raw":
        return list(images)
    pooled = pool_moments(*[im.moments() for im in images])
    return [im.standardised(pooled) for im in images]


# ---- similarity ------------------------------------------------------------------------


def _samples(images: Sequence[DenseHypercolumns], samples: int, seed: int) -> torch.Tensor:
    per = max(1, samples // len(images))
    return torch.cat([im.at(im.sample(per, seed=seed + i)) for i, im in enumerate(images)])
