"""Analytic ray casting for SynthScenes: rays against boxes, ellipsoids, cylinders, cones.

Every shape lives in its own local frame (centre at the origin, axes given by a rotation);
a :class:`Primitive` places it in the world. Points and directions are stored component
first, ``[3, N]`` (structure of arrays, which keeps every numpy operation a fast
element-wise one). For each shape kind there are two vectorised functions:

- ``intersect(o, d, params) -> (t, face)``: for rays ``o + t * d`` (``o`` is ``[3, 1]``
  or ``[3, N]``, ``d`` is ``[3, N]``), the nearest hit with ``t > EPS`` (``inf`` on a
  miss) and which face of the shape it is on;
- ``surface(p, face, params) -> (normal, uv)``: outward unit normals ``[3, N]`` and 2-D
  texture coordinates ``[2, N]`` (metres) at local hit points ``p [3, N]``.

Faces are the smooth pieces of a shape (a box has 6, a cylinder has side/top/bottom, a
cone side/base, an ellipsoid 1); the border between two faces is a sharp crease, which is
how SynthScenes labels creases exactly. The room is the inside of an axis-aligned box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["EPS", "SHAPES", "Primitive", "Shape", "bounding_cones", "camera_rays", "intersect_room",
           "surface_room"]

EPS = 1e-4
"""Smallest accepted ray parameter, so that a surface does not hit itself."""

_OTHER_AXES = ((2, 1), (0, 2), (0, 1))  # in-plane texture axes of a face normal to x, y, z
_INF = np.float32(np.inf)


@dataclass(frozen=True)
class Primitive:
    """A shape placed in the world.

    Attributes:
        kind: key of :data:`SHAPES` (``"box"``, ``"ellipsoid"``, ``"cylinder"``, ``"cone"``).
        center: float32 ``[3]`` world position of the local origin.
        rotation: float32 ``[3, 3]`` whose columns are the local axes in world coordinates.
        params: float32 shape parameters (see each shape's functions).
        class_id: index into ``SYNTH_CLASSES``.
        material: index into the scene's material list.
    """

    kind: str
    center: np.ndarray
    rotation: np.ndarray
    params: np.ndarray
    class_id: int
    material: int

    def to_local(self, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Express ray origins ``[3, 1 or N]`` and directions ``[3, N]`` in the local frame."""
        return self.rotation.T @ (o - self.center[:, None]), self.rotation.T @ d

    def normal_to_world(self, n: np.ndarray) -> np.ndarray:
        """Rotate local normals ``[3, N]`` to world coordinates."""
        return self.rotation @ n

    def bounding_radius(self) -> float:
        """Radius of a sphere around ``center`` that contains the shape."""
        if self.kind == "box":
            return float(np.linalg.norm(self.params))
        if self.kind == "ellipsoid":
            return float(self.params.max())
        if self.kind == "cone":
            return float(self.params.max())
        return float(np.hypot(self.params[0], self.params[1]))


@dataclass(frozen=True)
class Shape:
    """The two ray functions of a shape kind (see the module docstring)."""

    intersect: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    surface: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _closest(candidates: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Nearest of several candidate hits ``[N]`` each: returns ``(t [N], index [N])``."""
    t, index = candidates[0], np.zeros(candidates[0].shape, dtype=np.int64)
    for i, other in enumerate(candidates[1:], start=1):
        closer = other < t
        t = np.where(closer, other, t)
        index[closer] = i
    return t, index


def _slabs(o: np.ndarray, d: np.ndarray, half: np.ndarray, *, inside: bool):
    """Slab test of rays against the box ``|x_i| <= half_i``.

    Returns:
        ``(near, far, axis, negative)``: entry and exit parameters ``[N]``, the axis of the
        entry face (of the exit face when ``inside``) and whether ``d`` is negative along it.
    """
    n = d.shape[1]
    near = np.full(n, -_INF)
    far = np.full(n, _INF)
    axis = np.zeros(n, dtype=np.int64)
    negative = np.zeros(n, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for a in range(3):
            inv = 1.0 / d[a]
            t1 = (-half[a] - o[a]) * inv
            t2 = (half[a] - o[a]) * inv
            entry, exit_ = np.minimum(t1, t2), np.maximum(t1, t2)
            moved = exit_ < far if inside else entry > near
            axis[moved] = a
            negative[moved] = d[a][moved] < 0
            near = np.maximum(near, entry)
            far = np.minimum(far, exit_)
    return near, far, axis, negative


def _axis_normal(axis: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Unit vectors ``[3, N]`` along ``axis [N]`` with sign ``[N]`` (+1 / -1)."""
    n = np.zeros((3, len(axis)), dtype=np.float32)
    n[axis, np.arange(len(axis))] = sign
    return n


def _plane_uv(p: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Texture coordinates ``[2, N]`` of points ``p [3, N]`` on planes normal to ``axis [N]``."""
    uv = np.empty((2, p.shape[1]), dtype=np.float32)
    for a, (u, v) in enumerate(_OTHER_AXES):
        mask = axis == a
        uv[0, mask], uv[1, mask] = p[u, mask], p[v, mask]
    return uv


def intersect_box(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rays from outside against the box ``|x_i| <= half_i`` (slab method).

    Returns:
        ``t [N]`` and ``face [N]`` = ``2 * axis + (1 if the +half face else 0)``.
    """
    near, far, axis, negative = _slabs(o, d, half, inside=False)
    hit = (near <= far) & (near > EPS)
    return np.where(hit, near, _INF), 2 * axis + negative


def surface_box(p: np.ndarray, face: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward normals and face-plane texture coordinates of a box."""
    axis = face // 2
    return _axis_normal(axis, np.where(face % 2 == 1, 1.0, -1.0)), _plane_uv(p, axis)


def intersect_room(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rays from inside against the walls of the box ``|x_i| <= half_i`` (always a hit).

    Returns:
        ``t [N]`` and ``face [N]`` = ``2 * axis + (1 if the +half wall else 0)``.
    """
    _, far, axis, negative = _slabs(o, d, half, inside=True)
    return far, 2 * axis + ~negative


def surface_room(p: np.ndarray, face: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inward normals and wall-plane texture coordinates of the room."""
    axis = face // 2
    return _axis_normal(axis, np.where(face % 2 == 1, -1.0, 1.0)), _plane_uv(p, axis)


def intersect_ellipsoid(o: np.ndarray, d: np.ndarray, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rays from outside against the ellipsoid ``sum((x_i / r_i)^2) <= 1`` (one face)."""
    inv = (1.0 / radii)[:, None]
    o, d = o * inv, d * inv
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2]
    c = o[0] * o[0] + o[1] * o[1] + o[2] * o[2] - 1.0
    disc = b * b - a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    hit = (disc >= 0) & (t > EPS)
    return np.where(hit, t, _INF), np.zeros(d.shape[1], dtype=np.int64)


def surface_ellipsoid(p: np.ndarray, face: np.ndarray, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward normals and (longitude * mean radius, height) texture coordinates."""
    n = p / (radii * radii)[:, None]
    n /= np.linalg.norm(n, axis=0, keepdims=True)
    uv = np.stack([np.arctan2(p[2], p[0]) * radii.mean(), p[1]])
    return n, uv


def _disc_hit(o: np.ndarray, d: np.ndarray, y: float, radius: float) -> np.ndarray:
    """Ray parameter ``[N]`` at the disc ``{y = y, x^2 + z^2 <= radius^2}`` (``inf`` on a miss)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (y - o[1]) / d[1]
    x = o[0] + t * d[0]
    z = o[2] + t * d[2]
    return np.where((t > EPS) & (x * x + z * z <= radius * radius), t, _INF)


def intersect_cylinder(o: np.ndarray, d: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rays against the capped cylinder ``x^2 + z^2 <= r^2, |y| <= h``; ``params = (r, h)``.

    Returns:
        ``t [N]`` and ``face [N]``: 0 side, 1 top cap, 2 bottom cap.
    """
    r, h = float(params[0]), float(params[1])
    a = d[0] * d[0] + d[2] * d[2]
    b = o[0] * d[0] + o[2] * d[2]
    c = o[0] * o[0] + o[2] * o[2] - r * r
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(disc)) / a
    y = o[1] + t_side * d[1]
    side = np.where((disc >= 0) & (t_side > EPS) & (np.abs(y) <= h), t_side, _INF)
    return _closest([side, _disc_hit(o, d, h, r), _disc_hit(o, d, -h, r)])


def surface_cylinder(p: np.ndarray, face: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward normals; texture (arc length, height) on the side and (x, z) on the caps."""
    r = float(params[0])
    side = face == 0
    n = np.zeros_like(p)
    n[0], n[2] = np.where(side, p[0], 0.0), np.where(side, p[2], 0.0)
    n[1] = np.where(face == 1, 1.0, np.where(face == 2, -1.0, 0.0))
    n /= np.linalg.norm(n, axis=0, keepdims=True)
    arc = np.stack([np.arctan2(p[2], p[0]) * r, p[1]])
    return n, np.where(side, arc, p[[0, 2]])


def intersect_cone(o: np.ndarray, d: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rays against the solid cone with base radius ``r`` at ``y = 0`` and apex at ``y = h``.

    Args:
        params: ``(r, h)``.

    Returns:
        ``t [N]`` and ``face [N]``: 0 side, 1 base.
    """
    r, h = float(params[0]), float(params[1])
    k2 = (r / h) ** 2
    q = h - o[1]
    a = d[0] * d[0] + d[2] * d[2] - k2 * d[1] * d[1]
    b = o[0] * d[0] + o[2] * d[2] + k2 * q * d[1]
    c = o[0] * o[0] + o[2] * o[2] - k2 * q * q
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(disc)
        candidates = [(-b - root) / a, (-b + root) / a]
    sides = []
    for t in candidates:
        y = o[1] + t * d[1]
        sides.append(np.where((disc >= 0) & (t > EPS) & (y >= 0) & (y <= h), t, _INF))
    t, index = _closest([*sides, _disc_hit(o, d, 0.0, r)])
    return t, np.where(index == 2, 1, 0)


def surface_cone(p: np.ndarray, face: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward normals; texture (arc length at the base, height) on the side and (x, z) on the base."""
    r, h = float(params[0]), float(params[1])
    side = face == 0
    n = np.stack([np.where(side, p[0], 0.0), np.where(side, (r / h) ** 2 * (h - p[1]), -1.0),
                  np.where(side, p[2], 0.0)]).astype(np.float32)
    n /= np.maximum(np.linalg.norm(n, axis=0, keepdims=True), 1e-12)
    arc = np.stack([np.arctan2(p[2], p[0]) * r, p[1]])
    return n, np.where(side, arc, p[[0, 2]])


SHAPES: dict[str, Shape] = {
    "box": Shape(intersect_box, surface_box),
    "ellipsoid": Shape(intersect_ellipsoid, surface_ellipsoid),
    "cylinder": Shape(intersect_cylinder, surface_cylinder),
    "cone": Shape(intersect_cone, surface_cone),
}
"""Shape kinds a :class:`Primitive` may have."""


def bounding_cones(primitives: tuple[Primitive, ...], apex: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Which rays from ``apex`` may hit which primitive (a cheap, conservative culling test).

    A ray can only hit a primitive if its direction lies in the cone from ``apex`` around
    the primitive's bounding sphere. When ``apex`` is inside a bounding sphere every ray
    is kept for that primitive.

    Args:
        primitives: the shapes.
        apex: float32 ``[3]`` common origin of the rays.
        directions: float32 ``[3, N]`` ray directions (any length).

    Returns:
        bool ``[len(primitives), N]``.
    """
    if not primitives:
        return np.zeros((0, directions.shape[1]), dtype=bool)
    to_center = np.stack([p.center for p in primitives]).astype(np.float64) - apex  # (P, 3)
    dist = np.linalg.norm(to_center, axis=1)
    radius = np.array([p.bounding_radius() for p in primitives])
    inside = dist <= radius
    cos = np.sqrt(np.clip(1.0 - (radius / np.maximum(dist, 1e-9)) ** 2, 0.0, 1.0)) - 1e-4
    unit = (to_center / np.maximum(dist, 1e-9)[:, None]).astype(np.float32)
    length = np.sqrt(directions[0] ** 2 + directions[1] ** 2 + directions[2] ** 2)
    # einsum, not @: a (P, 3) x (3, N) BLAS product spawns threads that cost more than they save here
    keep = np.einsum("pk,kn->pn", unit, directions) >= cos.astype(np.float32)[:, None] * length
    keep[inside] = True
    return keep


def camera_rays(basis: np.ndarray, fov_x: float, size: tuple[int, int]) -> np.ndarray:
    """Directions of the rays through the pixel centres of a pinhole camera.

    Args:
        basis: float32 ``[3, 3]`` with rows right, down, forward (world coordinates).
        fov_x: horizontal field of view in radians.
        size: ``(H, W)``.

    Returns:
        float32 ``[3, H * W]`` directions in raster order, scaled so that their forward
        component is 1 (the ray parameter of a hit is then its depth along the optical axis).
    """
    height, width = size
    focal = np.tan(fov_x / 2) / (width / 2)  # metres per pixel at unit depth
    xs = (np.arange(width, dtype=np.float32) + 0.5 - width / 2) * focal
    ys = (np.arange(height, dtype=np.float32) + 0.5 - height / 2) * focal
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    cam = np.stack([grid_x.ravel(), grid_y.ravel(), np.ones(height * width, dtype=np.float32)])
    return (basis.T @ cam).astype(np.float32)
