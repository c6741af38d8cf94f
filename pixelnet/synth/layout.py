"""Random scene layouts for SynthScenes: room, camera, objects, materials and lights.

World coordinates are metres with ``y`` up; the room is the box
``|x| <= X, 0 <= y <= H, |z| <= Z`` with the floor at ``y = 0``. A layout depends only on
the seed, never on the image size, so one seed renders the same scene at any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from pixelnet.synth.geometry import Primitive
from pixelnet.synth.textures import Material, sample_material

__all__ = ["OBJECT_CLASSES", "ROOM_FACE_CLASSES", "SYNTH_CLASSES", "Camera", "Light", "Scene", "sample_scene"]

SYNTH_CLASSES: tuple[str, ...] = (
    "floor", "wall", "ceiling", "box", "sphere", "cylinder", "cone", "ellipsoid", "table", "picture",
)
"""SynthScenes semantic classes; a label map stores indices into this tuple."""

ROOM_FACE_CLASSES: tuple[int, ...] = (1, 1, 0, 2, 1, 1)
"""Class of each room face (x-, x+, floor, ceiling, z-, z+), see ``intersect_room``."""

OBJECT_CLASSES: tuple[str, ...] = ("box", "sphere", "cylinder", "cone", "ellipsoid", "table")
_OBJECT_WEIGHTS = (0.24, 0.16, 0.18, 0.12, 0.14, 0.16)
_CLASS = {name: i for i, name in enumerate(SYNTH_CLASSES)}


@dataclass(frozen=True)
class Camera:
    """A pinhole camera.

    Attributes:
        position: float32 ``[3]`` world position.
        basis: float32 ``[3, 3]`` rows = right, down, forward unit vectors (world).
        fov_x: horizontal field of view, radians.
    """

    position: np.ndarray
    basis: np.ndarray
    fov_x: float


@dataclass(frozen=True)
class Light:
    """A point light: float32 ``[3]`` world ``position`` and RGB ``intensity``."""

    position: np.ndarray
    intensity: np.ndarray


@dataclass(frozen=True)
class Scene:
    """Everything needed to render one SynthScenes image.

    Attributes:
        room_half: float32 ``[3]`` half extents ``(X, H / 2, Z)``; the room centre is ``(0, H / 2, 0)``.
        room_materials: material index of each room face (order of ``ROOM_FACE_CLASSES``).
        camera: the camera.
        primitives: the objects' shapes (a table is five boxes).
        materials: all materials, indexed by ``room_materials`` and ``Primitive.material``.
        lights: point lights (at least one).
        ambient: ambient light level.
    """

    room_half: np.ndarray
    room_materials: tuple[int, ...]
    camera: Camera
    primitives: tuple[Primitive, ...]
    materials: tuple[Material, ...]
    lights: tuple[Light, ...]
    ambient: float

    @property
    def room_center(self) -> np.ndarray:
        """float32 ``[3]`` centre of the room box."""
        return np.array([0.0, self.room_half[1], 0.0], dtype=np.float32)


def _f32(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _yaw(angle: float) -> np.ndarray:
    """Rotation about the vertical axis."""
    return Rotation.from_euler("y", angle).as_matrix()


def _sample_camera(rng: np.random.Generator, half: np.ndarray) -> Camera:
    """A camera inside the room looking roughly towards its middle, slightly downwards."""
    x, z = rng.uniform(-0.7, 0.7, size=2) * half[[0, 2]]
    position = _f32([x, rng.uniform(0.9, 1.8), z])
    yaw = np.arctan2(-x, z) + rng.uniform(-0.7, 0.7)
    pitch = rng.uniform(np.radians(-35), np.radians(0))
    forward = np.array([np.cos(pitch) * np.sin(yaw), np.sin(pitch), -np.cos(pitch) * np.cos(yaw)])
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    roll = rng.uniform(np.radians(-6), np.radians(6))
    right, up = np.cos(roll) * right + np.sin(roll) * up, np.cos(roll) * up - np.sin(roll) * right
    fov_x = float(rng.uniform(np.radians(50), np.radians(80)))
    return Camera(position, _f32([right, -up, forward]), fov_x)


def _ground_point(
    rng: np.random.Generator, camera: Camera, half: np.ndarray, radius: float
) -> np.ndarray | None:
    """A floor point ``(x, z)`` in view, inside the room and away from the camera (or None)."""
    forward = camera.basis[2]
    yaw = np.arctan2(forward[0], -forward[2]) + rng.uniform(-0.45, 0.45) * camera.fov_x
    distance = rng.uniform(1.0, 5.0)
    limit = half[[0, 2]] - radius - 0.05
    if (limit <= 0).any():
        return None
    xz = camera.position[[0, 2]] + distance * np.array([np.sin(yaw), -np.cos(yaw)])
    xz = np.clip(xz, -limit, limit)
    if np.linalg.norm(xz - camera.position[[0, 2]]) < radius + 0.6:
        return None
    return xz


def _box(rng: np.random.Generator, xz: np.ndarray, material: int) -> list[Primitive]:
    half = _f32(rng.uniform(0.12, 0.55, size=3))
    if rng.random() < 0.25:  # tipped over, resting on a corner
        rotation = Rotation.random(rng=rng).as_matrix()
    else:
        rotation = _yaw(rng.uniform(0, np.pi))
    lift = np.abs(rotation[1]) @ half
    if rng.random() < 0.15:  # floating
        lift += rng.uniform(0.2, 0.8)
    return [Primitive("box", _f32([xz[0], lift, xz[1]]), _f32(rotation), half, _CLASS["box"], material)]


def _sphere(rng: np.random.Generator, xz: np.ndarray, material: int) -> list[Primitive]:
    radius = rng.uniform(0.12, 0.5)
    height = radius + (rng.uniform(0.1, 1.0) if rng.random() < 0.3 else 0.0)
    rotation = _f32(Rotation.random(rng=rng).as_matrix())
    return [Primitive("ellipsoid", _f32([xz[0], height, xz[1]]), rotation, _f32([radius] * 3),
                      _CLASS["sphere"], material)]


def _ellipsoid(rng: np.random.Generator, xz: np.ndarray, material: int) -> list[Primitive]:
    radii = _f32(rng.uniform(0.1, 0.55, size=3))
    rotation = Rotation.random(rng=rng).as_matrix()
    lift = float(np.sqrt(((rotation[1] * radii) ** 2).sum()))  # resting on the floor
    return [Primitive("ellipsoid", _f32([xz[0], lift, xz[1]]), _f32(rotation), radii,
                      _CLASS["ellipsoid"], material)]


def _cylinder(rng: np.random.Generator, xz: np.ndarray, material: int) -> list[Primitive]:
    radius, half_height = rng.uniform(0.08, 0.35), rng.uniform(0.15, 0.7)
    rotation = _yaw(rng.uniform(0, 2 * np.pi))
    height = half_height
    if rng.random() < 0.3:  # lying on its side
        rotation = rotation @ Rotation.from_euler("z", np.pi / 2).as_matrix()
        height = radius
    return [Primitive("cylinder", _f32([xz[0], height, xz[1]]), _f32(rotation), _f32([radius, half_height]),
                      _CLASS["cylinder"], material)]


def _cone(rng: np.random.Generator, xz: np.ndarray, material: int) -> list[Primitive]:
    radius, height = rng.uniform(0.12, 0.45), rng.uniform(0.3, 1.2)
    rotation = _f32(_yaw(rng.uniform(0, 2 * np.pi)))
    return [Primitive("cone", _f32([xz[0], 0.0, xz[1]]), rotation, _f32([radius, height]),
                      _CLASS["cone"], material)]


def _table(rng: np.random.Generator, xz: np.ndarray, material: int) -> list[Primitive]:
    """A table: a top slab on four legs (five boxes of class ``table``)."""
    width, depth = rng.uniform(0.35, 0.8), rng.uniform(0.25, 0.5)
    height, top, leg = rng.uniform(0.45, 0.9), rng.uniform(0.02, 0.05), rng.uniform(0.025, 0.05)
    rotation = _yaw(rng.uniform(0, np.pi))
    base = np.array([xz[0], 0.0, xz[1]])
    parts = [((0.0, height - top, 0.0), (width, top, depth))]
    leg_half = (height - 2 * top) / 2
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(((sx * (width - leg), leg_half, sz * (depth - leg)), (leg, leg_half, leg)))
    return [Primitive("box", _f32(base + rotation @ np.array(offset)), _f32(rotation), _f32(size),
                      _CLASS["table"], material) for offset, size in parts]


_PLACERS = {"box": _box, "sphere": _sphere, "cylinder": _cylinder, "cone": _cone,
            "ellipsoid": _ellipsoid, "table": _table}
_FOOTPRINT = {"box": 0.8, "sphere": 0.5, "cylinder": 0.7, "cone": 0.45, "ellipsoid": 0.55, "table": 0.9}


def _picture(rng: np.random.Generator, half: np.ndarray, material: int) -> Primitive:
    """A thin framed picture hanging on a random wall."""
    wall_axis = int(rng.choice([0, 2]))
    along_axis = 2 - wall_axis
    size = np.array([0.0, rng.uniform(0.12, 0.4), 0.0])
    size[along_axis] = rng.uniform(0.15, 0.5)
    size[wall_axis] = 0.02
    center = np.zeros(3)
    center[wall_axis] = (half[wall_axis] - 0.01) * rng.choice([-1.0, 1.0])
    center[along_axis] = rng.uniform(-1, 1) * (half[along_axis] - size[along_axis] - 0.1)
    center[1] = rng.uniform(1.0 + size[1], 2 * half[1] - 0.2 - size[1])
    identity = np.eye(3, dtype=np.float32)
    return Primitive("box", _f32(center), identity, _f32(size), _CLASS["picture"], material)


def _sample_lights(rng: np.random.Generator, half: np.ndarray) -> tuple[Light, ...]:
    """One to three point lights below the ceiling."""
    count = int(rng.integers(1, 4))
    lights = []
    for _ in range(count):
        x, z = rng.uniform(-0.8, 0.8, size=2) * half[[0, 2]]
        y = 2 * half[1] - rng.uniform(0.1, 0.6)
        colour = 1.0 + rng.uniform(-0.1, 0.1, size=3)
        lights.append(Light(_f32([x, y, z]), _f32(colour * rng.uniform(0.6, 1.0) / np.sqrt(count))))
    return tuple(lights)


def sample_scene(seed: int) -> Scene:
    """Draw the random layout of scene ``seed``.

    Args:
        seed: scene identifier (any non-negative int).

    Returns:
        the scene.
    """
    rng = np.random.default_rng([seed, 0])
    half = _f32([rng.uniform(2.0, 4.0), rng.uniform(1.2, 1.6), rng.uniform(2.0, 4.0)])
    materials = [sample_material(rng) for _ in range(3)]  # floor, ceiling, walls
    walls = []
    for _ in range(4):  # most walls share material 2, some get their own
        if rng.random() < 0.3:
            materials.append(sample_material(rng))
            walls.append(len(materials) - 1)
        else:
            walls.append(2)
    room = (walls[0], walls[1], 0, 1, walls[2], walls[3])
    camera = _sample_camera(rng, half)
    primitives: list[Primitive] = []
    for _ in range(int(rng.integers(3, 8))):
        name = str(rng.choice(OBJECT_CLASSES, p=_OBJECT_WEIGHTS))
        xz = _ground_point(rng, camera, half, _FOOTPRINT[name])
        if xz is None:
            continue
        materials.append(sample_material(rng))
        primitives += _PLACERS[name](rng, xz, len(materials) - 1)
    for _ in range(int(rng.integers(0, 3))):
        materials.append(sample_material(rng))
        primitives.append(_picture(rng, half, len(materials) - 1))
    return Scene(half, room, camera, tuple(primitives), tuple(materials), _sample_lights(rng, half),
                 float(rng.uniform(0.15, 0.35)))
