"""SynthScenes: procedural indoor scenes with exact ground truth for all three PixelNet tasks.

:func:`render_scene` turns a seed into an RGB image and, pixel-aligned, a semantic label
map, camera-frame surface normals, a one-pixel-wide boundary map, depth and a valid mask.
The layout (room, camera pose and field of view, 3-7 objects of random class, size,
rotation and position that occlude each other and the walls, pictures on the walls,
1-3 point lights) comes from :mod:`pixelnet.synth.layout`; every surface gets a
texture drawn independently of its class (:mod:`pixelnet.synth.textures`); the
image is ray cast analytically and vectorised over pixels
(:mod:`pixelnet.synth.geometry`), shaded as Lambertian surfaces under ambient light
plus point lights with cast shadows, then optionally blurred and given sensor noise.

Conventions (shared by every dataset in :mod:`pixelnet.data`):

- normals are unit vectors in the camera frame with x to the right, y down and z towards
  the camera, so a surface facing the camera has normal ``(0, 0, +1)``;
- depth is the distance along the optical axis in metres;
- boundaries ("edges") are occlusion boundaries, boundaries between different objects or
  surfaces, and creases (the border between two faces of a shape: box edges, cylinder
  rims, wall/floor corners). Texture and shadow edges are not boundaries. Each boundary
  is marked on the pixel on its nearer side, so it is one pixel wide.

Splits are disjoint seed ranges (:data:`SYNTH_SPLITS`). A scene depends only on its seed
(and its size), so :class:`SynthScenes` needs no per-worker seeding.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import gaussian_filter
from torch.utils.data import Dataset

from pixelnet.synth.geometry import SHAPES, bounding_cones, camera_rays, intersect_room, surface_room
from pixelnet.synth.layout import ROOM_FACE_CLASSES, SYNTH_CLASSES, Scene, sample_scene
from pixelnet.synth.textures import albedo

if TYPE_CHECKING:
    from pixelnet.synth.photos import PhotoTextures

__all__ = ["SYNTH_CLASSES", "SYNTH_SPLITS", "SynthScenes", "render_scene", "with_photo_materials"]

SYNTH_SPLITS: dict[str, range] = {
    "train": range(0, 1_000_000),
    "val": range(1_000_000, 1_001_000),
    "test": range(2_000_000, 2_010_000),
}
"""Seed ranges of the splits; they never overlap."""

_FACES_PER_OWNER = 8  # surface id = (owner + 1) * 8 + face; the room is owner -1
_SHADOW_OFFSET = 1e-3
_DEPTH_TIE = 0.01  # relative depth difference below which two neighbours are equally near


def _cast(scene: Scene, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Cast one primary ray per pixel and find the nearest surface.

    Returns:
        dict of flat per-pixel arrays: ``d [3, N]`` ray directions, ``t [N]`` depth,
        ``owner [N]`` primitive index (-1 = room), ``face [N]`` face of the owner.
    """
    origin = scene.camera.position[:, None]
    d = camera_rays(scene.camera.basis, scene.camera.fov_x, size)
    t, face = intersect_room(origin - scene.room_center[:, None], d, scene.room_half)
    owner = np.full(len(t), -1, dtype=np.int64)
    candidates = bounding_cones(scene.primitives, scene.camera.position, d)
    for i, prim in enumerate(scene.primitives):
        rays = np.flatnonzero(candidates[i])
        t_i, face_i = SHAPES[prim.kind].intersect(*prim.to_local(origin, d[:, rays]), prim.params)
        closer = t_i < t[rays]
        rays = rays[closer]
        t[rays], face[rays], owner[rays] = t_i[closer], face_i[closer], i
    return {"d": d, "t": t, "owner": owner, "face": face}


def _surfaces(scene: Scene, hits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Normals, texture coordinates, class and material of every hit point.

    Returns:
        dict of flat arrays: ``p [3, N]`` world points, ``normal [3, N]`` world normals facing
        the camera, ``uv [2, N]``, ``label [N]`` class index, ``material [N]``.
    """
    p = scene.camera.position[:, None] + hits["t"] * hits["d"]
    n = p.shape[1]
    normal = np.empty((3, n), dtype=np.float32)
    uv = np.empty((2, n), dtype=np.float32)
    label = np.empty(n, dtype=np.int64)
    material = np.empty(n, dtype=np.int64)
    room = np.flatnonzero(hits["owner"] == -1)
    face = hits["face"][room]
    normal[:, room], uv[:, room] = surface_room(p[:, room] - scene.room_center[:, None], face,
                                                scene.room_half)
    label[room] = np.asarray(ROOM_FACE_CLASSES)[face]
    material[room] = np.asarray(scene.room_materials)[face]
    for i, prim in enumerate(scene.primitives):
        pix = np.flatnonzero(hits["owner"] == i)
        if len(pix) == 0:
            continue
        local = prim.rotation.T @ (p[:, pix] - prim.center[:, None])
        n_local, uv[:, pix] = SHAPES[prim.kind].surface(local, hits["face"][pix], prim.params)
        normal[:, pix] = prim.normal_to_world(n_local)
        label[pix], material[pix] = prim.class_id, prim.material
    d = hits["d"]
    facing_away = normal[0] * d[0] + normal[1] * d[1] + normal[2] * d[2] > 0
    normal[:, facing_away] *= -1
    return {"p": p, "normal": normal, "uv": uv, "label": label, "material": material}


def _albedo(scene: Scene, surf: dict[str, np.ndarray]) -> np.ndarray:
    """Textured albedo float32 ``[3, N]`` of every hit point."""
    out = np.empty((3, surf["p"].shape[1]), dtype=np.float32)
    for k in np.flatnonzero(np.bincount(surf["material"])):
        pix = np.flatnonzero(surf["material"] == k)
        out[:, pix] = albedo(scene.materials[k], surf["uv"][:, pix])
    return out


def _shadowed(scene: Scene, light: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Whether the segments from ``light [3]`` to ``points [3, N]`` hit an object: bool ``[N]``."""
    blocked = np.zeros(points.shape[1], dtype=bool)
    from_light = points - light[:, None]
    candidates = bounding_cones(scene.primitives, light, from_light)
    for i, prim in enumerate(scene.primitives):
        rays = np.flatnonzero(candidates[i])
        t, _ = SHAPES[prim.kind].intersect(*prim.to_local(light[:, None], from_light[:, rays]), prim.params)
        blocked[rays[t < 1.0]] = True
    return blocked


def _shading(scene: Scene, surf: dict[str, np.ndarray]) -> np.ndarray:
    """Irradiance float32 ``[3, N]``: ambient plus Lambertian point lights with cast shadows.

    A point is in the shadow of a light when the segment from the light to the point,
    lifted off its surface by 1 mm, hits an object first.
    """
    p, normal = surf["p"], surf["normal"]
    lifted = p + _SHADOW_OFFSET * normal
    light = np.full(p.shape, scene.ambient, dtype=np.float32)
    for lamp in scene.lights:
        to_light = lamp.position[:, None] - p
        cosine = (normal[0] * to_light[0] + normal[1] * to_light[1] + normal[2] * to_light[2]) / np.sqrt(
            to_light[0] ** 2 + to_light[1] ** 2 + to_light[2] ** 2)
        direct = np.maximum(cosine, 0.0)
        direct[_shadowed(scene, lamp.position, lifted)] = 0.0
        light += lamp.intensity[:, None] * direct
    return light


def _edges(surface: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundaries between different surfaces.

    Args:
        surface: int ``[H, W]`` surface id (owner and face).
        depth: float ``[H, W]``.

    Returns:
        bool ``[H, W]``: for every pair of 4-neighbours on different surfaces, the nearer
        pixel is a boundary pixel. Depths within 1 % count as a tie (a crease, where both
        sides meet) and mark the left / upper pixel, so creases do not zigzag.
    """
    edges = np.zeros(surface.shape, dtype=bool)
    for axis in (0, 1):
        a = [slice(None), slice(None)]
        b = [slice(None), slice(None)]
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        a, b = tuple(a), tuple(b)
        differ = surface[a] != surface[b]
        first_nearer = depth[a] <= depth[b] * (1 + _DEPTH_TIE)
        edges[a] |= differ & first_nearer
        edges[b] |= differ & ~first_nearer
    return edges


def _sensor(rgb: np.ndarray, seed: int, *, noise: bool, blur: bool) -> np.ndarray:
    """Optional Gaussian blur (sigma 0.4-1.0 px) and sensor noise (sigma 0.5-3 %), then uint8."""
    rng = np.random.default_rng([seed, 1])  # its own stream: toggling does not change the scene
    blur_sigma, noise_sigma = rng.uniform(0.4, 1.0), rng.uniform(0.005, 0.03)
    if blur:
        rgb = gaussian_filter(rgb, sigma=(blur_sigma, blur_sigma, 0), mode="nearest")
    if noise:
        rgb = rgb + noise_sigma * rng.standard_normal(rgb.shape, dtype=np.float32)
    return np.ascontiguousarray((np.clip(rgb, 0.0, 1.0) * 255 + 0.5).astype(np.uint8))


def with_photo_materials(scene: Scene, seed: int, photos: PhotoTextures, *, objects: float,
                         room: float) -> Scene:
    """``scene`` with some materials replaced by real-photo ones (:mod:`pixelnet.synth.photos`).

    Each material used by an object is replaced with probability ``objects``, each used only
    by the room (walls, floor, ceiling) with probability ``room``. The draws come from their
    own stream of ``seed``, so the layout, lights and camera are those of the plain scene.
    """
    rng = np.random.default_rng([seed, 2])
    on_objects = {prim.material for prim in scene.primitives}
    materials = list(scene.materials)
    for k in range(len(materials)):
        if rng.random() < (objects if k in on_objects else room):
            materials[k] = photos.material(rng)
    return replace(scene, materials=tuple(materials))


def render_scene(
    seed: int, size: tuple[int, int] = (256, 256), *, noise: bool = True, blur: bool = True,
    photos: PhotoTextures | None = None, photo_objects: float = 0.6, photo_room: float = 0.6,
) -> dict[str, np.ndarray | str]:
    """Render SynthScenes scene ``seed`` with its ground truth.

    Deterministic in ``seed`` and ``size`` (and the photo split); the layout does not depend on
    ``size``, and ``noise`` / ``blur`` / ``photos`` change only the image.

    Args:
        seed: scene identifier (non-negative int).
        size: ``(H, W)`` in pixels.
        noise: add Gaussian sensor noise.
        blur: blur the image slightly (optics).
        photos: real photos to texture surfaces with (None: SynthScenes' own textures only).
        photo_objects: with ``photos``, probability that an object's material is a photo.
        photo_room: with ``photos``, probability that a wall, floor or ceiling material is one.

    Returns:
        dict with ``image`` uint8 ``[H, W, 3]`` RGB, ``seg`` int64 ``[H, W]`` indices into
        :data:`SYNTH_CLASSES` (no ignored pixels), ``normals`` float32 ``[H, W, 3]``,
        ``depth`` float32 ``[H, W]`` metres, ``valid`` bool ``[H, W]`` (all True),
        ``edges`` uint8 ``[H, W]`` (1 boundary, 0 not), ``edges_gt`` bool ``[1, H, W]``
        and ``name`` ``"synth-<seed>"``.
    """
    scene = sample_scene(seed)
    if photos is not None:
        scene = with_photo_materials(scene, seed, photos, objects=photo_objects, room=photo_room)
    hits = _cast(scene, size)
    surf = _surfaces(scene, hits)
    rgb = _albedo(scene, surf) * _shading(scene, surf)
    rgb *= 0.9 / max(float(np.percentile(rgb.mean(axis=0), 97)), 1e-3)  # auto exposure
    image = _sensor(rgb.reshape(3, *size).transpose(1, 2, 0), seed, noise=noise, blur=blur)
    depth = hits["t"].reshape(size).astype(np.float32)
    surface = ((hits["owner"] + 1) * _FACES_PER_OWNER + hits["face"]).reshape(size)
    edges = _edges(surface, depth)
    normals = (scene.camera.basis @ surf["normal"]) * np.array([[1], [1], [-1]], dtype=np.float32)
    return {
        "image": image,
        "seg": surf["label"].reshape(size),
        "normals": np.ascontiguousarray(normals.reshape(3, *size).transpose(1, 2, 0), dtype=np.float32),
        "depth": depth,
        "valid": np.ones(size, dtype=bool),
        "edges": edges.astype(np.uint8),
        "edges_gt": edges[None],
        "name": f"synth-{seed:06d}",
    }


class SynthScenes(Dataset):
    """SynthScenes as a map-style dataset: item ``i`` renders seed ``SYNTH_SPLITS[split][seed_offset + i]``.

    Scenes are rendered on the fly (see the benchmark in ``bench/bench_synthscenes.py``);
    a sample is a dict as returned by :func:`render_scene`.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: ``(H, W)`` of the images.
        length: number of scenes (default: the rest of the split after ``seed_offset``).
        seed_offset: first position in the split's seed range.
        noise: add sensor noise.
        blur: blur the images.
        photos: real photos to texture surfaces with (see :func:`render_scene`).
        photo_objects: probability of a photo material per object material.
        photo_room: probability of a photo material per wall, floor or ceiling material.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        size: tuple[int, int] = (256, 256),
        length: int | None = None,
        seed_offset: int = 0,
        noise: bool = True,
        blur: bool = True,
        photos: PhotoTextures | None = None,
        photo_objects: float = 0.6,
        photo_room: float = 0.6,
    ) -> None:
        if split not in SYNTH_SPLITS:
            raise ValueError(f"unknown SynthScenes split {split!r}; expected one of {tuple(SYNTH_SPLITS)}")
        seeds = SYNTH_SPLITS[split]
        available = len(seeds) - seed_offset
        if seed_offset < 0 or available <= 0:
            raise ValueError(f"seed_offset {seed_offset} outside the {split!r} split of {len(seeds)} seeds")
        length = available if length is None else length
        if not 0 < length <= available:
            raise ValueError(f"length {length} must be in [1, {available}] for split {split!r} "
                             f"with seed_offset {seed_offset}")
        self.seeds = seeds[seed_offset : seed_offset + length]
        self.size = tuple(size)
        self.noise = noise
        self.blur = blur
        self.photos = photos
        self.photo_objects, self.photo_room = float(photo_objects), float(photo_room)

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | str]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} scenes")
        out = render_scene(self.seeds[index], self.size, noise=self.noise, blur=self.blur, photos=self.photos,
                           photo_objects=self.photo_objects, photo_room=self.photo_room)
        if self.photos is not None:
            out["name"] = f"synth-real-{self.seeds[index]:06d}"
        return out
