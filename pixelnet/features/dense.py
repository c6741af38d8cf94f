"""Dense hypercolumns of every pixel kept as tap maps, their exact norms and moments, and the feature spaces.

See :mod:`pixelnet.features` for why this is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..hypercolumn import interp_weights
from ..taps import TapInfo, parse_taps

if TYPE_CHECKING:
    from ..predictor import Predictor

SPACES: tuple[str, ...] = ("raw", "standardised")
HYPERCOLUMN = "hypercolumn"  # key of the whole-hypercolumn map next to the per-tap maps
_EPS = 1e-12


def output_grid(size: tuple[int, int], stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel rows and columns of the output grid of ``stride``: ``s // 2 + s * j`` inside the image.

    Args:
        size: image size ``(H, W)``.
        stride: output stride s >= 1 (1: every pixel).

    Returns:
        ``(ys, xs)``: int64 ``(H',)`` and ``(W',)``, ``H' = ceil((H - s // 2) / s)``.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    return torch.arange(stride // 2, size[0], stride), torch.arange(stride // 2, size[1], stride)


@dataclass(frozen=True)
class _Axis:
    """Bilinear weights of output positions along one axis: value = w0 * cell[i0] + w1 * cell[i1]."""

    i0: torch.Tensor
    i1: torch.Tensor
    w0: torch.Tensor
    w1: torch.Tensor

    @staticmethod
    def of(pos: torch.Tensor, cells: int, tap: TapInfo) -> _Axis:
        i0, i1, w = interp_weights(pos, cells, tap.stride, tap.offset)
        return _Axis(i0, i1, 1 - w, w)

    def matrix(self, cells: int) -> torch.Tensor:
        """The dense ``(n, cells)`` float64 interpolation matrix."""
        a = torch.zeros(len(self.i0), cells, dtype=torch.float64)
        rows = torch.arange(len(self.i0))
        a.index_put_((rows, self.i0), self.w0.double(), accumulate=True)
        a.index_put_((rows, self.i1), self.w1.double(), accumulate=True)
        return a

    def part(self, sl: slice) -> _Axis:
        return _Axis(self.i0[sl], self.i1[sl], self.w0[sl], self.w1[sl])

    def squared(self) -> _Axis:
        return _Axis(self.i0, self.i1, self.w0**2, self.w1**2)

    def cross(self) -> _Axis:
        """Weight ``w0 * w1`` on ``i0`` (the pair (i0, i0 + 1)); zero where i0 == i1 (w1 = 0)."""
        return _Axis(self.i0, self.i0, self.w0 * self.w1, torch.zeros_like(self.w1))


def _apply(z: torch.Tensor, ax: _Axis, dim: int) -> torch.Tensor:
    """Resample ``z`` along ``dim`` with the weights ``ax``."""
    shape = [1] * z.ndim
    shape[dim] = -1
    w0, w1 = ax.w0.to(z).view(shape), ax.w1.to(z).view(shape)
    out = z.index_select(dim, ax.i0.to(z.device)).mul_(w0)
    if bool((ax.w1 != 0).any()):
        out.addcmul_(z.index_select(dim, ax.i1.to(z.device)), w1)
    return out


def _resample(z: torch.Tensor, ay: _Axis, ax: _Axis) -> torch.Tensor:
    """``(K, h, w)`` cells -> ``(K, R, W')`` at the positions of ``ay`` (rows) and ``ax`` (columns).
    Only the cell rows the band needs are touched. Columns are resampled first, at tap-row
    resolution (a gather along the contiguous axis is the slow one), then whole rows are gathered."""
    lo, hi = int(ay.i0.min()), int(ay.i1.max())
    band = z[:, lo : hi + 1]
    ay = _Axis(ay.i0 - lo, ay.i1 - lo, ay.w0, ay.w1)
    return _apply(_apply(band, ax, 2), ay, 1)


def _pixel_moments_axis(n_pixels: int, cells: int, tap: TapInfo) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Along one axis with interpolation matrix A (pixels x cells): ``a = Aᵀ1`` and the tridiagonal
    ``AᵀA`` as its diagonal ``d`` and super-diagonal ``e`` (``e[i] = (AᵀA)[i, i+1]``), float64 ``(cells,)``."""
    i0, i1, w = interp_weights(torch.arange(n_pixels), cells, tap.stride, tap.offset)
    w = w.double()
    a = torch.zeros(cells, dtype=torch.float64)
    d = torch.zeros(cells, dtype=torch.float64)
    e = torch.zeros(cells, dtype=torch.float64)
    a.index_add_(0, i0, 1 - w).index_add_(0, i1, w)
    d.index_add_(0, i0, (1 - w) ** 2).index_add_(0, i1, w**2)
    e.index_add_(0, i0, (1 - w) * w)  # zero where i0 == i1 (w = 0)
    return a, d, e


def _tridiag(z: torch.Tensor, d: torch.Tensor, e: torch.Tensor, dim: int) -> torch.Tensor:
    """Multiply ``z`` along ``dim`` by the symmetric tridiagonal matrix (d, e)."""
    shape = [1] * z.ndim
    shape[dim] = -1
    out = z * d.view(shape)
    n = z.shape[dim]
    if n > 1:
        ev = e[: n - 1].view([(n - 1) if i == dim else 1 for i in range(z.ndim)])
        out.narrow(dim, 0, n - 1).add_(z.narrow(dim, 1, n - 1) * ev)
        out.narrow(dim, 1, n - 1).add_(z.narrow(dim, 0, n - 1) * ev)
    return out


@dataclass(frozen=True)
class TapMoments:
    """Per-channel sums of one tap's interpolated features over every pixel of one or more images.

    Attributes:
        count: number of pixels.
        sum: ``(C,)`` float64 sum of the features.
        sumsq: ``(C,)`` float64 sum of their squares.
    """

    count: int
    sum: torch.Tensor
    sumsq: torch.Tensor

    @property
    def mean(self) -> torch.Tensor:
        """``(C,)`` float64 mean over the pixels."""
        return self.sum / self.count

    @property
    def std(self) -> torch.Tensor:
        """``(C,)`` float64 standard deviation over the pixels (1 for constant channels)."""
        var = (self.sumsq / self.count - self.mean**2).clamp_min(0)
        return torch.where(var > 1e-12 * (1 + self.mean**2), var.sqrt(), torch.ones_like(var))

    def __add__(self, other: TapMoments) -> TapMoments:
        return TapMoments(self.count + other.count, self.sum + other.sum, self.sumsq + other.sumsq)


def pool_moments(*moments: Mapping[str, TapMoments]) -> dict[str, TapMoments]:
    """Moments of several images pooled per tap (for a feature space shared across images)."""
    names = list(moments[0])
    if any(list(m) != names for m in moments):
        raise ValueError("moments of different taps cannot be pooled")
    out: dict[str, TapMoments] = {}
    for n in names:
        acc = moments[0][n]
        for m in moments[1:]:
            acc = acc + m[n]
        out[n] = acc
    return out


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
