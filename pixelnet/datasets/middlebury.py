"""Middlebury 2014 *Motorcycle* (as shipped by scikit-image) with normals and occlusion
boundaries derived from its ground-truth disparity: one real photo with real geometry.

Source: :func:`skimage.data.stereo_motorcycle` (offline, in the scikit-image wheel): the left
image ``(500, 741, 3)`` uint8 and its ground-truth disparity (NaN / inf where unknown), both
down-sampled 4x from Middlebury 2014 (Scharstein et al., GCPR 2014). Calibration of that
resolution, from the function's docstring: focal length ``f = 994.978`` px, principal point
``(cx, cy) = (311.193, 254.877)`` px, principal-point offset between the views
``doffs = 31.086`` px, baseline ``b = 193.001`` mm. Depth ``Z = b f / (d + doffs)`` (mm).

Derived ground truth (all vectorised numpy, :func:`disparity_to_normals`):

- **occlusion boundaries** (:func:`depth_discontinuities`): a pixel is a boundary pixel when a
  4-neighbour with known disparity is more than ``jump_px`` (2 px) of disparity *farther*, or,
  across a horizontal run of unknown disparity no wider than the jump + 2 px (the strip of
  background that only one view sees), the known pixel at the other end is; the boundary is
  marked on the near (occluding) side only, so it is one pixel wide. At this
  resolution neighbouring disparities differ by less than 0.2 px at the 90th percentile and
  slanted surfaces stay below 1 px per pixel (the disparity-gradient limit of stereo), so 2 px
  separates surfaces rather than slants.
- **normals** by a local least-squares plane fit: every pixel of known disparity is
  back-projected to ``P = ((u - cx) Z / f, (v - cy) Z / f, Z)`` (camera frame of OpenCV, mm);
  over the ``window x window`` (7 x 7) neighbourhood of each pixel, the plane through the valid
  points' centroid that minimises the sum of squared orthogonal distances (PCA: the eigenvector
  of the smallest eigenvalue of the points' 3 x 3 covariance) gives the normal. The covariance
  comes from box filters of the ten moments (1, X, Y, Z, XX, XY, XZ, YY, YZ, ZZ) in float64,
  after subtracting the image's mean point for conditioning. The normal is turned towards the
  camera (``n . P < 0`` at the centroid) and then written in the project's frame (x right,
  y down, z towards the camera: the OpenCV z flipped).
- **valid**: the centre pixel has a known disparity, at least ``min_fraction`` (0.6) of the
  window's pixels do, and the window holds no occlusion-boundary pixel (a window that straddles
  a depth discontinuity would fit a plane through two surfaces).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage
from torch.utils.data import Dataset

__all__ = [
    "MOTORCYCLE_CALIBRATION",
    "MiddleburyMotorcycle",
    "StereoCalibration",
    "depth_discontinuities",
    "disparity_to_depth",
    "disparity_to_normals",
]


class StereoCalibration:
    """Rectified-stereo calibration of the left view (pixels; baseline in mm).

    Args:
        focal: focal length ``f`` (px).
        cx: principal point x (px).
        cy: principal point y (px).
        doffs: x offset of the principal points between the views (px); ``Z = b f / (d + doffs)``.
        baseline: baseline ``b`` (mm).
    """

    def __init__(self, *, focal: float, cx: float, cy: float, doffs: float, baseline: float) -> None:
        self.focal, self.cx, self.cy, self.doffs, self.baseline = focal, cx, cy, doffs, baseline

    def __repr__(self) -> str:
        return (f"StereoCalibration(focal={self.focal}, cx={self.cx}, cy={self.cy}, doffs={self.doffs}, "
                f"baseline={self.baseline})")


MOTORCYCLE_CALIBRATION = StereoCalibration(focal=994.978, cx=311.193, cy=254.877, doffs=31.086, baseline=193.001)
"""The calibration of :func:`skimage.data.stereo_motorcycle` (its docstring; 4x down-sampled)."""


def _known(disparity: np.ndarray) -> np.ndarray:
    return np.isfinite(disparity)


def disparity_to_depth(disparity: np.ndarray, calib: StereoCalibration) -> np.ndarray:
    """Depth from disparity.

    Args:
        disparity: ``(H, W)`` float disparity (px), NaN / inf where unknown.
        calib: the calibration.

    Returns:
        ``(H, W)`` float64 depth ``Z = b f / (d + doffs)`` in mm, NaN where unknown.
    """
    d = np.asarray(disparity, np.float64)
    known = _known(d) & (d + calib.doffs > 0)
    return np.where(known, calib.baseline * calib.focal / np.where(known, d + calib.doffs, 1.0), np.nan)


def depth_discontinuities(disparity: np.ndarray, *, jump_px: float = 2.0, gap_slack_px: float = 2.0) -> np.ndarray:
    """Occlusion boundaries of a disparity map, one pixel wide, on the near side.

    A pixel is marked when one of its 4-neighbours has a known disparity more than ``jump_px``
    smaller (farther) than its own. Across a horizontal run of unknown pixels (in rectified
    stereo, the background strip that only one view sees, as wide as the disparity jump), the
    known pixels at its two ends are compared the same way, when the run is at most
    ``|jump| + gap_slack_px`` pixels wide; the nearer end is marked. Unknown pixels are never marked.

    Args:
        disparity: ``(H, W)`` float disparity (px), NaN / inf where unknown.
        jump_px: the disparity jump (px) that separates two surfaces.
        gap_slack_px: how much wider than the jump an unknown run may be and still be an occlusion.

    Returns:
        ``(H, W)`` bool boundary map.
    """
    d = np.asarray(disparity, np.float64)
    known = _known(d)
    d = np.where(known, d, np.nan)
    out = np.zeros(d.shape, bool)
    with np.errstate(invalid="ignore"):
        dx = d[:, 1:] - d[:, :-1]  # right minus left
        dy = d[1:, :] - d[:-1, :]  # below minus above
        out[:, :-1] |= dx < -jump_px  # the right neighbour is farther: mark the left pixel
        out[:, 1:] |= dx > jump_px
        out[:-1, :] |= dy < -jump_px
        out[1:, :] |= dy > jump_px
    # runs of unknown pixels along rows: the known pixel q right after a run, and p right before it
    h, w = d.shape
    cols = np.broadcast_to(np.arange(w), (h, w))
    last_known = np.maximum.accumulate(np.where(known, cols, -1), axis=1)  # (H, W) index, -1: none yet
    qy, qx = np.nonzero(known[:, 1:] & ~known[:, :-1])
    qx = qx + 1
    px = last_known[qy, qx - 1]
    keep = px >= 0
    qy, qx, px = qy[keep], qx[keep], px[keep]
    jump = d[qy, qx] - d[qy, px]
    occlusion = (np.abs(jump) > jump_px) & (qx - px - 1 <= np.abs(jump) + gap_slack_px)
    near_x = np.where(jump > 0, qx, px)
    out[qy[occlusion], near_x[occlusion]] = True
    return out


def _box_sum(a: np.ndarray, window: int) -> np.ndarray:
    """Sum over the ``window x window`` neighbourhood (zeros outside the image)."""
    return ndimage.uniform_filter(a, size=window, mode="constant", cval=0.0) * (window * window)


def disparity_to_normals(disparity: np.ndarray, calib: StereoCalibration, *, window: int = 7,
                         min_fraction: float = 0.6, jump_px: float = 2.0
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera-frame normals from disparity by a local plane fit (see the module docstring).

    Args:
        disparity: ``(H, W)`` float disparity (px), NaN / inf where unknown.
        calib: the calibration.
        window: odd side of the square fitting window (px).
        min_fraction: fewest valid pixels in a window, as a fraction of ``window ** 2``.
        jump_px: the disparity jump of an occlusion boundary (:func:`depth_discontinuities`).

    Returns:
        ``normals`` ``(H, W, 3)`` float32 unit vectors (x right, y down, z towards the camera;
        zero where not valid), ``valid`` ``(H, W)`` bool, ``boundaries`` ``(H, W)`` bool.
    """
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd number >= 3, got {window}")
    d = np.asarray(disparity, np.float64)
    if d.ndim != 2:
        raise ValueError(f"disparity must be (H, W), got shape {d.shape}")
    z = disparity_to_depth(d, calib)
    known = np.isfinite(z)
    h, w = d.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    zk = np.where(known, z, 0.0)
    pts = np.stack([(u - calib.cx) * zk / calib.focal, (v - calib.cy) * zk / calib.focal, zk], axis=-1)
    offset = pts[known].mean(axis=0) if known.any() else np.zeros(3)
    pts = np.where(known[..., None], pts - offset, 0.0)  # conditioning: moments about the mean point
    m = known.astype(np.float64)
    n = _box_sum(m, window)
    safe = np.maximum(n, 1.0)
    mean = np.stack([_box_sum(pts[..., i], window) for i in range(3)], axis=-1) / safe[..., None]
    cov = np.empty((h, w, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            c = _box_sum(pts[..., i] * pts[..., j], window) / safe - mean[..., i] * mean[..., j]
            cov[..., i, j] = cov[..., j, i] = c
    _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
    normal = vecs[..., :, 0]  # (H, W, 3), OpenCV frame
    # towards the camera: n . centroid < 0 (centroid in absolute coordinates)
    centroid = mean + offset
    flip = (normal * centroid).sum(-1) > 0
    normal = np.where(flip[..., None], -normal, normal)
    normal[..., 2] *= -1.0  # OpenCV z (forward) -> project z (towards the camera)
    boundaries = depth_discontinuities(d, jump_px=jump_px)
    near_boundary = _box_sum(boundaries.astype(np.float64), window) > 0.5
    valid = known & (n >= min_fraction * window * window - 1e-6) & ~near_boundary
    normal = np.where(valid[..., None], normal, 0.0)
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = np.where(norm > 0, normal / np.maximum(norm, 1e-12), 0.0)
    return normal.astype(np.float32), valid, boundaries


class MiddleburyMotorcycle(Dataset):
    """The Middlebury 2014 Motorcycle from scikit-image: one image, split ``test``.

    A sample has ``image`` uint8 ``(H, W, 3)``; ``normals`` float32 ``(H, W, 3)`` and ``valid``
    bool ``(H, W)`` (:func:`disparity_to_normals`); ``edges`` uint8 ``(H, W)`` and ``edges_gt``
    bool ``(1, H, W)``, the occlusion boundaries; ``disparity`` float32 ``(H, W)`` (NaN where
    unknown), ``depth`` float32 ``(H, W)`` mm (NaN where unknown) and ``name``.

    Args:
        split: only ``"test"``.
        window, min_fraction, jump_px: the plane fit's options (:func:`disparity_to_normals`).
    """

    def __init__(self, split: str = "test", *, window: int = 7, min_fraction: float = 0.6,
                 jump_px: float = 2.0) -> None:
        if split != "test":
            raise ValueError(f"unknown middlebury-motorcycle split {split!r}; expected 'test' (one image)")
        self.split = split
        self.options = {"window": window, "min_fraction": min_fraction, "jump_px": jump_px}
        self._sample: dict[str, Any] | None = None

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index not in (0, -1):
            raise IndexError(f"middlebury-motorcycle has one image, index {index} is out of range")
        if self._sample is None:
            from skimage.data import stereo_motorcycle  # imported on use

            left, _, disp = stereo_motorcycle()
            disp = np.where(np.isfinite(disp), disp, np.nan).astype(np.float32)
            normals, valid, boundaries = disparity_to_normals(disp, MOTORCYCLE_CALIBRATION, **self.options)
            self._sample = {
                "image": np.ascontiguousarray(left, np.uint8), "normals": normals, "valid": valid,
                "edges": boundaries.astype(np.uint8), "edges_gt": boundaries[None],
                "disparity": disp, "depth": disparity_to_depth(disp, MOTORCYCLE_CALIBRATION).astype(np.float32),
                "name": "motorcycle",
            }
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self._sample.items()}
