"""Exact hypercolumn sampling against dense references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixelnet.hypercolumn import sample_hypercolumns, sample_tap
from pixelnet.taps import TapInfo

VGG_LIKE = [TapInfo("t1", 3, 1, 0.0), TapInfo("t2", 4, 2, 0.5), TapInfo("t4", 5, 4, 1.5), TapInfo("t8", 2, 8, 3.5)]
LITE_LIKE = [TapInfo("s2", 3, 2, 0.0), TapInfo("s4", 4, 4, 0.0), TapInfo("s32", 2, 32, 0.0)]


def _all_coords(b: int, h: int, w: int) -> torch.Tensor:
    bb, yy, xx = torch.meshgrid(torch.arange(b), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([bb.flatten(), yy.flatten(), xx.flatten()], 1)  # (P, 3) as (b, y, x)


def _dense_grid_sample(feat: torch.Tensor, tap: TapInfo, h: int, w: int) -> torch.Tensor:
    """Independent dense reference: torch's grid_sample upsamples the whole map to (h, w)."""
    hf, wf = feat.shape[2:]
    u = ((torch.arange(h, dtype=torch.float64) - tap.offset) / tap.stride).clamp(0, hf - 1)
    v = ((torch.arange(w, dtype=torch.float64) - tap.offset) / tap.stride).clamp(0, wf - 1)
    gy = 2 * u / max(hf - 1, 1) - 1
    gx = 2 * v / max(wf - 1, 1) - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1).to(feat.dtype)  # (h, w, 2): (x, y)
    grid = grid[None].expand(feat.shape[0], -1, -1, -1)
    return F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _maps(taps, b, h, w, exact=True):
    size = (lambda s: (h // s, w // s)) if exact else (lambda s: (-(-h // s), -(-w // s)))
    return {t.name: torch.randn(b, t.channels, *size(t.stride), dtype=torch.float64) for t in taps}


def test_equals_interpolate_align_corners_false():
    """For offset (s-1)/2 and maps of exactly H/s cells, sampling == F.interpolate upsampling."""
    b, h, w = 2, 64, 48
    feats = _maps(VGG_LIKE, b, h, w)
    coords = _all_coords(b, h, w)
    got = sample_hypercolumns(feats, VGG_LIKE, coords)
    ref = torch.cat([F.interpolate(feats[t.name], size=(h, w), mode="bilinear", align_corners=False)
                     if t.stride > 1 else feats[t.name] for t in VGG_LIKE], 1)
    ref = ref.permute(0, 2, 3, 1).reshape(-1, ref.shape[1])
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("taps", [VGG_LIKE, LITE_LIKE], ids=["vgg_offsets", "zero_offsets"])
@pytest.mark.parametrize(("h", "w"), [(97, 131), (33, 20), (8, 8)])
def test_equals_dense_upsample_everywhere(taps, h, w):
    """Every pixel, borders included, odd sizes too: equals upsample-all-then-index."""
    b = 2
    feats = _maps(taps, b, h, w, exact=False)
    coords = _all_coords(b, h, w)
    got = sample_hypercolumns(feats, taps, coords)
    dense = torch.cat([_dense_grid_sample(feats[t.name], t, h, w) for t in taps], 1)  # (B, C, H, W)
    ref = dense[coords[:, 0], :, coords[:, 1], coords[:, 2]]
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


def test_coords_are_b_y_x():
    """A tap of stride 1 returns exactly feat[b, :, y, x]: the column order is (b, y, x)."""
    tap = TapInfo("t", 3, 1, 0.0)
    feat = torch.randn(2, 3, 5, 7)
    coords = torch.tensor([[1, 4, 6], [0, 0, 3], [1, 2, 0]])
    got = sample_tap(feat, coords, tap)
    torch.testing.assert_close(got, torch.stack([feat[1, :, 4, 6], feat[0, :, 0, 3], feat[1, :, 2, 0]]))


def test_gradients_scatter_add_with_duplicates():
    taps = LITE_LIKE
    h, w = 40, 36
    feats = {k: v.float().requires_grad_() for k, v in _maps(taps, 1, h, w, exact=False).items()}
    coords = torch.tensor([[0, 5, 7], [0, 5, 7], [0, 39, 35], [0, 0, 0]])
    sample_hypercolumns(feats, taps, coords).sum().backward()
    for t in taps:
        g_ref = torch.zeros_like(feats[t.name])
        leaf = feats[t.name].detach().clone().requires_grad_()
        dense = _dense_grid_sample(leaf, t, h, w)
        dense[coords[:, 0], :, coords[:, 1], coords[:, 2]].sum().backward()
        g_ref = leaf.grad
        torch.testing.assert_close(feats[t.name].grad, g_ref, atol=1e-5, rtol=0)
        # the duplicated pixel counts twice
        single = feats[t.name].detach().clone().requires_grad_()
        sample_tap(single, coords[:1], t).sum().backward()
        assert float(feats[t.name].grad.sum()) > float(single.grad.sum())


def test_memory_does_not_scale_with_image_area():
    """Sampling 2,000 pixels from a 1024x1024 image allocates nothing near a dense hypercolumn."""
    taps = [TapInfo("t1", 64, 1, 0.0), TapInfo("t2", 128, 2, 0.5), TapInfo("t4", 256, 4, 1.5)]
    h = w = 1024
    feats = {t.name: torch.randn(1, t.channels, h // t.stride, w // t.stride, requires_grad=True) for t in taps}
    coords = torch.stack([torch.zeros(2000, dtype=torch.long), torch.randint(0, h, (2000,)),
                          torch.randint(0, w, (2000,))], 1)
    dense_mb = sum(t.channels for t in taps) * h * w * 4 / 2**20  # 1,792 MB
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        out = sample_hypercolumns(feats, taps, coords)
        out.sum().backward()
    allocated = [e.cpu_memory_usage for e in prof.events() if e.cpu_memory_usage > 0]
    largest_mb = max(allocated) / 2**20
    tap_mb = max(f.numel() for f in feats.values()) * 4 / 2**20  # the gradient of one tap map
    assert out.shape == (2000, 448)
    assert largest_mb <= tap_mb * 1.01, (largest_mb, tap_mb)
    assert largest_mb < dense_mb / 4
