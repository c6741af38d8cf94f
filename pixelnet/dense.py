"""Dense hypercolumn heads without a dense hypercolumn (PixelNet Sec. 3, "dense predictions").

The first layer of every head is linear in the hypercolumn: ``W h + b = sum_t W_t c_t + b``,
and bilinear interpolation is linear too. So each tap is projected by its slice ``W_t``
at the tap's own resolution and the projection is interpolated to pixels, which is
exactly the sampled path's ``W (interp c)`` but never forms the ``sum_t C_t``-wide
hypercolumn at full resolution. Rows are processed in chunks, and only the tap rows a
chunk needs are projected, so peak memory is bounded whatever the image area.

When the tap grids nest (every knot ``o + s j`` of a coarser tap is a knot of the next finer
one, as for backbones with "same" padding), the projections are summed coarse to fine: the
coarser sum is resampled onto the finer tap's knots and added there, and only the finest grid
is resampled to pixels. This is exact, not an approximation: between two neighbouring finer
knots a coarser bilinear interpolant is linear (no coarser knot or clamp point lies strictly
inside), so interpolating its values at the finer knots reproduces it. It replaces one
full-resolution resample (or full-resolution GEMM) per tap by a single one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .hypercolumn import interp_weights
from .resample import _resample_band, _resample_rows, _window_columns
from .taps import TapInfo

__all__ = ["dense_apply", "first_layer_macs", "rows_per_chunk"]


@dataclass(frozen=True)
class _Level:
    """Taps sharing one grid, with the grid given relative to the next finer grid (pixels for
    the finest): knot ``j`` lies at finer position ``offset + stride * j``."""

    stride: int
    offset: float
    h: int
    w: int
    members: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # (feature map, weight slice (D, C_t))


def _nested_levels(features: Mapping[str, torch.Tensor], taps: Sequence[TapInfo],
                   weights: Sequence[torch.Tensor]) -> list[_Level] | None:
    """Tap grids finest first, each relative to the previous one, or None if they do not nest.

    Coarser grid c nests in finer grid f when its knots are knots of f
    (``s_c / s_f`` and ``(o_c - o_f) / s_f >= 0`` are integers) and its last knot does not
    lie past f's last knot, so f's clamped border is also constant for c.
    """
    groups: dict[tuple[int, float, int, int], list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for tap, w_t in zip(taps, weights):
        feat = features[tap.name]
        groups.setdefault((tap.stride, float(tap.offset), *feat.shape[2:]), []).append((feat, w_t))
    grids = sorted(groups)
    levels = [_Level(grids[0][0], grids[0][1], grids[0][2], grids[0][3], tuple(groups[grids[0]]))]
    for (s_f, o_f, h_f, w_f), (s_c, o_c, h_c, w_c) in zip(grids, grids[1:]):
        r, q = s_c / s_f, (o_c - o_f) / s_f
        if not (r.is_integer() and r > 1 and q.is_integer() and q >= 0):
            return None
        if o_c + s_c * (h_c - 1) > o_f + s_f * (h_f - 1) or o_c + s_c * (w_c - 1) > o_f + s_f * (w_f - 1):
            return None
        levels.append(_Level(int(r), q, h_c, w_c, tuple(groups[(s_c, o_c, h_c, w_c)])))
    return levels


def _project(members: Sequence[tuple[torch.Tensor, torch.Tensor]], lo: int, hi: int) -> torch.Tensor:
    """Sum of 1x1 projections of tap rows ``lo..hi`` of taps on one grid: ``(B, D, n, w_t)``."""
    z: torch.Tensor | None = None
    for feat, w_t in members:
        band = feat[:, :, lo : hi + 1, :].permute(0, 2, 3, 1)  # (B, n, w_t, C_t)
        # a matrix product, not a 1x1 convolution: same result, no per-call weight reorder
        p = F.linear(band, w_t.to(feat.dtype)).permute(0, 3, 1, 2)  # (B, D, n, w_t), channels-last memory
        z = p if z is None else z.add_(p)
    assert z is not None, "no taps"
    return z


def _nested_grid(levels: Sequence[_Level], rows: range) -> tuple[torch.Tensor, int]:
    """Sum over ``levels`` of the projected taps, on the cells of ``levels[0]`` that rows ``rows``
    of the next finer grid need (coarser levels are resampled onto these cells first).

    Returns:
        ``(z, lo)``: ``z`` ``(B, D, n, w_0)`` holds cells ``lo .. lo + n - 1`` of ``levels[0]``.
    """
    lv = levels[0]
    y0, y1, _ = interp_weights(torch.arange(rows.start, rows.stop), lv.h, lv.stride, lv.offset)
    lo, hi = int(y0.min()), int(y1.max())
    z = _project(lv.members, lo, hi)  # (B, D, n, w)
    if len(levels) > 1:
        coarse, c_lo = _nested_grid(levels[1:], range(lo, hi + 1))
        nxt = levels[1]
        z = z.add_(_resample_band(coarse, nxt.stride, nxt.offset, nxt.h, nxt.w, c_lo, range(lo, hi + 1), lv.w))
    return z, lo


def _finest_to_pixels(z: torch.Tensor, lo: int, lv: _Level, rows: range, width: int) -> tuple[torch.Tensor, int]:
    """Resample the finest grid's sum ``z`` (cells ``lo..``) to pixel rows ``rows``, as
    :func:`_resample_rows` without padding columns: ``(B, D, R, W')`` and the pixel of its first
    column (the caller replicates border columns on the head's outputs)."""
    y0, y1, _ = interp_weights(torch.arange(rows.start, rows.stop), lv.h, lv.stride, lv.offset)
    a, b = int(y0.min()), int(y1.max())
    return _resample_rows(z[:, :, a - lo : b - lo + 1], lv.stride, lv.offset, lv.h, lv.w, a, rows, width,
                          pad_x=False)


def _tile_slice(z: torch.Tensor, lo: int, h_t: int, stride: int, offset: float,
                rows: range) -> tuple[torch.Tensor, int]:
    """The cells of ``z`` (cells ``lo..`` of a ``h_t``-cell axis) that pixel rows ``rows`` read:
    ``(z[:, :, a - lo : b - lo + 1], a)``."""
    y0, y1, _ = interp_weights(torch.arange(rows.start, rows.stop), h_t, stride, offset)
    a, b = int(y0.min()), int(y1.max())
    return z[:, :, a - lo : b - lo + 1], a


@dataclass(frozen=True)
class _Part:
    """One grid of a band's first layer without nesting: ``z`` holds cells ``lo..`` of a
    ``(h, w)`` grid; ``project`` (narrow taps only) is applied after resampling to pixels."""

    z: torch.Tensor  # (B, D or C, n, w) on the grid's cells
    stride: int
    offset: float
    h: int
    w: int
    lo: int
    project: torch.Tensor | None  # (D, C) for narrow taps, else None


def _direct_parts(features: Mapping[str, torch.Tensor], taps: Sequence[TapInfo],
                  weights: Sequence[torch.Tensor], bias: torch.Tensor | None, rows: range) -> list[_Part]:
    """A band's first layer without nesting, at tap resolution: wide taps are projected at
    their grid and summed per grid (the bias goes on the coarsest grid: resampling keeps
    constants); narrow taps (``2 C_t < D``) keep their features, to be resampled first and
    projected at pixels, which moves less data, and so do taps of stride 1, whose projection is
    then made tile by tile in the cache rather than band by band in RAM."""
    ys = torch.arange(rows.start, rows.stop)
    d = weights[0].shape[0]
    projected: dict[tuple, torch.Tensor] = {}  # grid geometry -> (B, D, n, w_t)
    parts: list[_Part] = []
    for tap, w_t in zip(taps, weights):
        feat = features[tap.name]  # (B, C_t, h_t, w_t)
        y0, y1, _ = interp_weights(ys, feat.shape[2], tap.stride, tap.offset)
        lo, hi = int(y0.min()), int(y1.max())
        if 2 * tap.channels < d or tap.stride == 1:  # narrow tap, or already at pixels: project per tile
            parts.append(_Part(feat[:, :, lo : hi + 1, :], tap.stride, float(tap.offset), *feat.shape[2:], lo, w_t))
            continue
        z = _project([(feat, w_t)], lo, hi)  # (B, D, n, w_t)
        key = (tap.stride, float(tap.offset), feat.shape[2], feat.shape[3], lo)
        projected[key] = projected[key].add_(z) if key in projected else z
    keys = sorted(projected)
    aux = _aux_grid(keys)
    if aux is not None:  # fold its member grids into it, at its (coarse) resolution
        stride, offset, h_a, w_a, members = aux
        y0, y1, _ = interp_weights(ys, h_a, stride, offset)
        a_rows = range(int(y0.min()), int(y1.max()) + 1)
        z0 = projected[members[0]]
        z_a = z0.new_zeros(z0.shape[0], len(a_rows), w_a, z0.shape[1]).permute(0, 3, 1, 2)  # channels-last
        for k in members:  # (B, D, len(a_rows), w_a) += member resampled onto the auxiliary cells
            up, x_first = _resample_rows(projected.pop(k), k[0] // stride, (k[1] - offset) / stride, k[2], k[3],
                                         k[4], a_rows, w_a)
            _add_columns(z_a, up, x_first)
        projected[(stride, offset, h_a, w_a, a_rows.start)] = z_a
        keys = sorted(projected)
    if bias is not None:
        if keys:
            projected[keys[-1]].add_(bias.to(projected[keys[-1]].dtype).view(1, -1, 1, 1))
        else:  # only narrow taps: a grid of one constant cell
            parts.append(_Part(bias.view(1, -1, 1, 1).expand(len(next(iter(features.values()))), -1, 1, 1),
                               1, 0.0, 1, 1, 0, None))
    parts += [_Part(projected[k], k[0], k[1], k[2], k[3], k[4], None) for k in keys]
    return parts


def _aux_grid(keys: Sequence[tuple]) -> tuple[int, float, int, int, list[tuple]] | None:
    """An auxiliary grid that two or more tap grids fold into exactly, or None.

    Pooling grids (VGG: stride ``s``, offset ``(s-1)/2``) do not nest in one another, but for
    ``s >= 4`` all their knots lie on the grid of stride 2 and offset 1.5. Every member's
    bilinear interpolant is then linear between neighbouring auxiliary knots (its own knots
    and clamp points are auxiliary knots), so summing the members on the auxiliary grid and
    resampling that sum once to pixels is exact and replaces one full-resolution resample per
    member. The grid spans the members' knots, from the first to the last, so its own border
    clamping is theirs. Chosen to fold the most grids, then the coarsest; stride >= 2.

    Args:
        keys: grids ``(stride, offset, h, w, first cell)`` of one band.

    Returns:
        ``(stride, offset, h, w, members)`` or None.
    """
    best: tuple[int, int, float, list[tuple]] | None = None
    for stride in range(2, max((k[0] for k in keys), default=0) + 1):
        classes: dict[float, list[tuple]] = {}
        for k in keys:
            if k[0] % stride == 0:
                classes.setdefault(k[1] % stride, []).append(k)
        for members in classes.values():
            if len(members) >= 2 and (best is None or (len(members), stride) > (len(best[3]), best[0])):
                best = (stride, 0, min(k[1] for k in members), members)
    if best is None:
        return None
    stride, _, offset, members = best
    h = round((max(k[1] + k[0] * (k[2] - 1) for k in members) - offset) / stride) + 1
    w = round((max(k[1] + k[0] * (k[3] - 1) for k in members) - offset) / stride) + 1
    return stride, offset, h, w, members


def _add_columns(out: torch.Tensor, up: torch.Tensor, x_first: int) -> None:
    """``out[..., c] += up[..., clamp(c - x_first)]`` for every image column ``c`` of ``out``
    ``(B, D, R, W)``: the window of :func:`_window_columns` added in place, without a copy."""
    width, ww = out.shape[3], up.shape[3]
    lo, hi = max(0, x_first), min(width, x_first + ww)
    out[..., lo:hi] += up[..., lo - x_first : hi - x_first]
    if lo > 0:  # pixels before the first column take it (the sampler's clamping)
        out[..., :lo] += up[..., :1]
    if hi < width:
        out[..., hi:] += up[..., -1:]


def _direct_tile(parts: Sequence[_Part], rows: range, width: int) -> torch.Tensor:
    """Sum of a band's parts resampled to the pixel rows ``rows`` (a tile of the band):
    ``(B, D, R, width)``, channels-last memory."""
    out: torch.Tensor | None = None
    narrow_feats: list[torch.Tensor] = []
    narrow_weights: list[torch.Tensor] = []
    for part in parts:
        z, a = _tile_slice(part.z, part.lo, part.h, part.stride, part.offset, rows)
        if part.project is not None:
            narrow_feats.append(_resample_band(z, part.stride, part.offset, part.h, part.w, a, rows, width))
            narrow_weights.append(part.project)
            continue
        up, x_first = _resample_rows(z, part.stride, part.offset, part.h, part.w, a, rows, width)
        if out is None:
            out = up.new_zeros(up.shape[0], len(rows), width, up.shape[1]).permute(0, 3, 1, 2)  # channels-last
        _add_columns(out, up, x_first)
    if narrow_feats:
        cat = (narrow_feats[0] if len(narrow_feats) == 1 else torch.cat(narrow_feats, 1)).permute(0, 2, 3, 1)
        w_n = torch.cat(narrow_weights, 1).to(cat.dtype)  # (D, sum C_t)
        if out is None:
            out = F.linear(cat, w_n).permute(0, 3, 1, 2)  # (B, D, R, W), channels-last memory
        else:  # out += cat @ w_n.T in place: (B R W, sum C_t) x (sum C_t, D)
            flat = out.permute(0, 2, 3, 1).view(-1, out.shape[1])
            flat.addmm_(cat.reshape(-1, cat.shape[3]), w_n.T)
    assert out is not None, "no taps"
    return out


def first_layer_macs(features: Mapping[str, torch.Tensor], taps: Sequence[TapInfo], d: int,
                     size: tuple[int, int]) -> int:
    """Multiply-adds of the dense first layer (``D`` outputs) over an image of ``size``, as computed
    here: every tap at its own cells when the grids nest, else narrow taps (``2 C_t < D``) at pixels."""
    nested = _nested_levels(features, taps, [torch.empty(d, t.channels) for t in taps]) is not None
    macs = 0
    for tap in taps:
        f = features[tap.name]
        cells = f.shape[2] * f.shape[3] if nested or 2 * tap.channels >= d else size[0] * size[1]
        macs += f.shape[0] * tap.channels * d * cells
    return macs


def rows_per_chunk(width: int, channels: int, batch: int = 1, budget_mb: float = 64.0) -> int:
    """How many image rows a chunk may hold so that a ``(B, D, R, W)`` float32 block,
    and the few temporaries of its size, stay within ``budget_mb``."""
    per_row = 4 * batch * channels * width * 4  # bytes, with ~4 live copies
    return max(1, int(budget_mb * 2**20 // max(per_row, 1)))


def dense_apply(
    features: Mapping[str, torch.Tensor],
    taps: Sequence[TapInfo],
    weights: Sequence[torch.Tensor],
    bias: torch.Tensor | None,
    size: tuple[int, int],
    rest: Callable[[torch.Tensor], torch.Tensor],
    *,
    budget_mb: float = 64.0,
    tile_mb: float = 8.0,
) -> torch.Tensor:
    """A head at every pixel: first layer ``W h(p) + b`` by taps, then ``rest`` (the head's
    remaining per-pixel layers). Nested tap grids are summed coarse to fine (:func:`_nested_grid`);
    other geometries resample each grid or narrow tap (:func:`_direct_parts`). Both are exact:
    resampling and projection are linear and commute.

    Rows go in bands of ``budget_mb``. With nested tap grids, a band's first layer is summed
    on the finest tap grid; otherwise each tap grid's projection is kept at its own cells. It
    is resampled to pixels (and summed over grids) and passed through ``rest`` in tiles of
    ``tile_mb``, small enough to stay in the CPU cache: at full resolution these steps are
    memory-bound, so a tile is read back from cache instead of from RAM, and no band-sized
    full-resolution block is ever allocated.

    Args:
        features: tap name -> map ``(B, C_t, h_t, w_t)``.
        taps: taps in hypercolumn order.
        weights: per tap, the first-layer slice ``(D, C_t)``.
        bias: ``(D,)`` or None.
        size: image size ``(H, W)``.
        rest: ``(P, D)`` first-layer outputs -> ``(P, K)``.
        budget_mb: memory budget of one band of rows.
        tile_mb: size of one tile of the full-resolution ``(R, W, D)`` block.

    Returns:
        ``(B, K, H, W)``.
    """
    h, w = size
    d = weights[0].shape[0]
    b = next(iter(features.values())).shape[0]
    levels = _nested_levels(features, taps, weights)
    if levels:  # a band's largest block is its sum on the finest tap grid
        s0 = levels[0].stride
        step = s0 * rows_per_chunk(-(-w // s0), d, b, budget_mb)
    else:  # a band's largest blocks are its projections on the finest wide tap grid
        s0 = min((t.stride for t in taps if 2 * t.channels >= d), default=1)
        step = s0 * rows_per_chunk(-(-w // s0), d, b, budget_mb)
    tile = rows_per_chunk(w, d, b, tile_mb)
    out: torch.Tensor | None = None
    for r0 in range(0, h, step):
        band = range(r0, min(h, r0 + step))
        tiles = [range(t0, min(band.stop, t0 + tile)) for t0 in range(band.start, band.stop, tile)]
        if levels:
            z, lo = _nested_grid(levels, band)
            if bias is not None:  # resampling keeps constants, so the bias goes on the coarse grid
                z = z.add_(bias.to(z.dtype).view(1, -1, 1, 1))
            # columns are left as resampled (no full-resolution copy); the few border columns
            # are replicated on the head's K outputs instead
            zs = (_finest_to_pixels(z, lo, levels[0], t, w) for t in tiles)
        else:
            parts = _direct_parts(features, taps, weights, bias, band)
            zs = ((_direct_tile(parts, t, w), 0) for t in tiles)
        for t, (zt, x_first) in zip(tiles, zs):
            r, cols = zt.shape[2:]
            y = rest(zt.permute(0, 2, 3, 1).reshape(-1, d)).view(b, r, cols, -1)  # (B, R, W', K)
            y = _window_columns(y, x_first, w, dim=2)  # (B, R, W, K)
            if out is None:
                out = y.new_empty(b, y.shape[3], h, w)
            out[:, :, t.start : t.stop] = y.permute(0, 3, 1, 2)
    assert out is not None, "empty image"
    return out
