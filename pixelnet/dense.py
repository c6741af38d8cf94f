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
from .taps import TapInfo

__all__ = ["dense_apply", "first_layer_macs", "rows_per_chunk"]


def _grid(pos: torch.Tensor, size: int, stride: int, offset: float, first: int, n: int) -> torch.Tensor:
    """``grid_sample`` coordinates (align_corners=True) of pixels ``pos`` in a slice of
    ``n`` cells starting at cell ``first`` of a ``size``-cell axis (clamped like the sampler)."""
    u = ((pos.to(torch.float64) - offset) / stride).clamp(0, size - 1) - first
    return 2 * u / max(n - 1, 1) - 1


def _resample_rows(z: torch.Tensor, stride: int, offset: float, h_t: int, w_t: int, lo: int,
                   rows: range, width: int, *, pad_x: bool = True) -> tuple[torch.Tensor, int]:
    """Bilinearly resample tap cells ``lo..lo+n-1`` (all columns) to the pixel rows ``rows``.

    Uses ``F.interpolate`` (fast, vectorised) where the tap grid lines up with it: an integer
    offset (``align_corners=True`` onto ``s*(n-1)+1`` pixels) or the pooling offset
    ``(s-1)/2`` (``align_corners=False`` onto ``s*n`` pixels); pixels beyond the resampled
    range take the border value, which is exactly the sampler's clamping. Other geometries
    use ``grid_sample`` with the same formula.

    Args:
        z: ``(B, D, n, w_t)`` values on the tap's cells.
        pad_x: replicate cells past the right edge (at tap resolution) so that the columns
            reach pixel ``width - 1``; without it the caller clamps column indices.

    Returns:
        ``(up, x_first)``: ``up`` ``(B, D, R, W')`` whose column ``j`` is pixel ``x_first + j``
        (``x_first >= 0``; pixels outside take the nearest column).
    """
    n = z.shape[2]
    aligned = float(offset).is_integer()
    if aligned or offset == (stride - 1) / 2:
        p0y, p0x = (int(offset) + stride * lo, int(offset)) if aligned else (stride * lo, 0)
        # Replicate a few cells past the bottom/right edge at tap resolution (cheap), so the
        # resampled block already covers the band: between a cell and its copy the value is
        # constant, which is the sampler's border clamping, and no full-resolution pad is needed.
        cover = (lambda k: stride * (k - 1) + 1) if aligned else (lambda k: stride * k)
        extra_y = max(0, -(-(rows.stop - p0y - cover(n)) // stride))
        extra_x = max(0, -(-(width - p0x - cover(w_t)) // stride)) if pad_x else 0
        if stride > 1 and (extra_y or extra_x):
            z = F.pad(z, (0, extra_x, 0, extra_y), mode="replicate")
        size = (cover(z.shape[2]), cover(z.shape[3]))
        up = z if stride == 1 else F.interpolate(z, size=size, mode="bilinear", align_corners=aligned)
        return _crop_rows(up, rows.start - p0y, len(rows)), p0x
    gy = _grid(torch.arange(rows.start, rows.stop), h_t, stride, offset, lo, n)
    gx = _grid(torch.arange(width), w_t, stride, offset, 0, w_t)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).to(z)  # (R, W, 2) as (x, y)
    return F.grid_sample(z, grid[None].expand(z.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=True), 0


def _resample_band(z: torch.Tensor, stride: int, offset: float, h_t: int, w_t: int, lo: int,
                   rows: range, width: int) -> torch.Tensor:
    """:func:`_resample_rows` cut (or border-replicated) to exactly the ``width`` image columns:
    ``(B, D, R, W)``."""
    up, x_first = _resample_rows(z, stride, offset, h_t, w_t, lo, rows, width)
    return _window_columns(up, x_first, width, dim=3)


def _crop_rows(up: torch.Tensor, y0: int, h: int) -> torch.Tensor:
    """Rows ``[y0, y0+h)`` of ``up`` ``(B, D, H', W')``, replicating its border rows where the
    window reaches outside."""
    hh = up.shape[2]
    if y0 < 0 or y0 + h > hh:
        return up.index_select(2, torch.arange(y0, y0 + h, device=up.device).clamp(0, hh - 1))
    return up[:, :, y0 : y0 + h]


def _window_columns(up: torch.Tensor, x_first: int, width: int, dim: int) -> torch.Tensor:
    """Image columns ``0..width-1`` of ``up`` whose index ``j`` along ``dim`` is pixel
    ``x_first + j``: a view where possible, else the border columns are replicated."""
    ww = up.shape[dim]
    if x_first == 0 and ww >= width:
        return up.narrow(dim, 0, width)
    cols = (torch.arange(width, device=up.device) - x_first).clamp_(0, ww - 1)
    return up.index_select(dim, cols)


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


def _direct_sum(features: Mapping[str, torch.Tensor], taps: Sequence[TapInfo],
                weights: Sequence[torch.Tensor], rows: range, width: int) -> torch.Tensor:
    """First-layer sum without nesting: ``(B, D, R, width)``. Wide taps are projected at their
    grid and resampled once per grid; narrow taps (``2 C_t < D``) are resampled first and
    projected at pixel resolution, which moves less data."""
    ys = torch.arange(rows.start, rows.stop)
    d = weights[0].shape[0]
    projected: dict[tuple, torch.Tensor] = {}  # grid geometry -> (B, D, n, w_t)
    narrow_feats: list[torch.Tensor] = []  # taps resampled before projecting: (B, C_t, R, W)
    narrow_weights: list[torch.Tensor] = []
    for tap, w_t in zip(taps, weights):
        feat = features[tap.name]  # (B, C_t, h_t, w_t)
        y0, y1, _ = interp_weights(ys, feat.shape[2], tap.stride, tap.offset)
        lo, hi = int(y0.min()), int(y1.max())
        if 2 * tap.channels < d:  # narrow tap
            band = feat[:, :, lo : hi + 1, :]  # only the tap rows this band needs
            narrow_feats.append(_resample_band(band, tap.stride, tap.offset, *feat.shape[2:], lo, rows, width))
            narrow_weights.append(w_t)
            continue
        z = _project([(feat, w_t)], lo, hi)  # (B, D, n, w_t)
        key = (tap.stride, tap.offset, feat.shape[2], feat.shape[3], lo)
        projected[key] = projected[key] + z if key in projected else z
    out: torch.Tensor | None = None
    if narrow_feats:
        w_n = torch.cat(narrow_weights, 1).to(narrow_feats[0].dtype)[:, :, None, None]  # (D, sum C_t, 1, 1)
        out = F.conv2d(torch.cat(narrow_feats, 1), w_n)  # (B, D, R, W)
    for (stride, offset, h_t, w_t, lo), z in projected.items():
        r = _resample_band(z, stride, offset, h_t, w_t, lo, rows, width)  # (B, D, R, W)
        out = r if out is None else out.add_(r)
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
    other geometries resample each grid or narrow tap (:func:`_direct_sum`). Both are exact:
    resampling and projection are linear and commute.

    Rows go in bands of ``budget_mb``. With nested tap grids, a band's first layer is summed
    on the finest tap grid, and it is resampled to pixels and passed through ``rest`` in
    tiles of ``tile_mb``, small enough to stay in the CPU cache: at full resolution these
    steps are memory-bound, so a tile is read back from cache instead of from RAM.

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
    else:
        step = rows_per_chunk(w, d, b, budget_mb)
    tile = rows_per_chunk(w, d, b, tile_mb)
    out: torch.Tensor | None = None
    for r0 in range(0, h, step):
        band = range(r0, min(h, r0 + step))
        if levels:
            z, lo = _nested_grid(levels, band)
            if bias is not None:  # resampling keeps constants, so the bias goes on the coarse grid
                z = z.add_(bias.to(z.dtype).view(1, -1, 1, 1))
            tiles = [range(t0, min(band.stop, t0 + tile)) for t0 in range(band.start, band.stop, tile)]
            # columns are left as resampled (no full-resolution copy); the few border columns
            # are replicated on the head's K outputs instead
            zs = (_finest_to_pixels(z, lo, levels[0], t, w) for t in tiles)
        else:
            zz = _direct_sum(features, taps, weights, band, w)
            if bias is not None:
                zz = zz.add_(bias.to(zz.dtype).view(1, -1, 1, 1))
            tiles, zs = [band], iter([(zz, 0)])
        for t, (zt, x_first) in zip(tiles, zs):
            r, cols = zt.shape[2:]
            y = rest(zt.permute(0, 2, 3, 1).reshape(-1, d)).view(b, r, cols, -1)  # (B, R, W', K)
            y = _window_columns(y, x_first, w, dim=2)  # (B, R, W, K)
            if out is None:
                out = y.new_empty(b, y.shape[3], h, w)
            out[:, :, t.start : t.stop] = y.permute(0, 3, 1, 2)
    assert out is not None, "empty image"
    return out
