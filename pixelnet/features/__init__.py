"""What the hypercolumn encodes, without labels: similarity to a pixel, PCA colours, k-means segments.

Everything here works on :class:`DenseHypercolumns`, the hypercolumns of every pixel of one
image held as the tap maps they are bilinearly interpolated from (PixelNet Sec. 3); the
full-resolution ``(sum_t C_t, H, W)`` array is never built. Three facts make that exact:

- bilinear interpolation is linear, so a linear function of the hypercolumn (a dot product
  with a query, a PCA projection, the cross term of a k-means distance) is computed on the
  tap's cells and the ``K``-channel result is resampled to pixels (as in :mod:`pixelnet.dense`);
- the squared norm of an interpolated vector is *not* the interpolated squared norm. With
  separable weights ``(1 - a, a)`` along y and ``(1 - b, b)`` along x over four cells it is
  ``wᵀ G w`` for the 4x4 Gram matrix ``G`` of the cells, which regroups into four separable
  resamplings of query-independent maps at tap resolution: the cells' squared norms (weights
  squared), the inner products of horizontal neighbours, of vertical neighbours and of the two
  diagonals (cross weights ``(1 - a) a``). They are computed once per image and stride;
- per-channel standardisation ``(f - mean) / std`` is affine and bilinear weights sum to 1,
  so standardising the tap maps standardises every interpolated hypercolumn. The mean and
  variance are exact over the image's pixels (not its cells): both are quadratic forms in the
  interpolation weights, whose Gram matrix along each axis is tridiagonal.

Outputs are at full resolution (``stride=1``) or on a pixel grid of a chosen stride ``s``
(pixels ``s // 2 + s * j``, see :func:`output_grid`). Maps are computed in row bands within a
memory budget. Coordinates are ``(y, x)``.

May import: the core modules (``taps``, ``hypercolumn``, ``predictor``); never ``data``, ``engine`` or the teachers.
"""

from .dense import HYPERCOLUMN, SPACES, DenseHypercolumns, feature_spaces
from .interp import TapMoments, output_grid, pool_moments
from .kmeans import KMeansModel, SegmentProfile, fit_kmeans, kmeans, kmeans_labels, segment_profile
from .pca import PCAModel, fit_pca, pca, pca_rgb
from .similarity import similarity_maps, top_matches

__all__ = [
    "HYPERCOLUMN", "SPACES", "DenseHypercolumns", "KMeansModel", "PCAModel", "SegmentProfile", "TapMoments",
    "feature_spaces", "fit_kmeans", "fit_pca", "kmeans", "kmeans_labels", "output_grid", "pca", "pca_rgb",
    "pool_moments", "segment_profile", "similarity_maps", "top_matches",
]
