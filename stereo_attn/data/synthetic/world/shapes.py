"""Analytic solids and cut-outs, intersected with the rays of a rectified stereo camera.

A ray leaves a camera centre (ox, 0, 0) along (X, Y, 1), where X = (x - cx) / f and Y = (y - cy) / f
for the pixel position (x, y): with a unit z-component, the ray parameter of a hit *is* its depth z.
X and Y are any arrays that broadcast together: a row and a column for a block of the image grid, or
two flat arrays for scattered sub-pixel rays. Every shape answers two questions:

- ``depth(ox, X, Y)``: the depth of the first hit, +inf where the ray misses (the z-buffer pass);
- ``surface(ox, X, Y, z)``: at known hits, the face, the world normal facing the camera, and 2D surface
  coordinates in scene units on that face (the shading pass). The coordinates are a function of the 3D
  point alone, so a point seen by both cameras gets the same texture in both views.

Shapes are placed by a centre and a rotation (local to world). Solids are convex (sphere, capped
cylinder, convex polyhedra: boxes, prisms), so a ray meets each in one interval; a room is six
unbounded walls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stereo_attn.data.synthetic.masks import FULL, Mask

Array = np.ndarray


def random_rotation(rng: np.random.Generator) -> Array:
    """A rotation drawn uniformly (QR of a Gaussian matrix with the sign fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def rotation_about(axis: Array, angle: float) -> Array:
    """Rodrigues' rotation by ``angle`` about the unit ``axis``."""
    x, y, z = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def cross(a: Array, b: Array) -> Array:
    """The cross product of two 3-vectors (np.cross costs more in overhead than in arithmetic here)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _tangents(normal: Array) -> tuple[Array, Array]:
    """Two unit vectors spanning the plane perpendicular to ``normal``."""
    helper = np.array([1.0, 0, 0]) if abs(normal[0]) < 0.9 else np.array([0, 1.0, 0])
    first = cross(normal, helper)
    first /= np.linalg.norm(first)
    return first, cross(normal, first)


def frame_from_normal(normal: Array) -> Array:
    """A rotation whose local z axis is the unit ``normal``."""
    first, second = _tangents(normal)
    return np.column_stack([first, second, normal])


@dataclass
class Shape:
    """The common placement: centre, rotation (columns: local axes in world) and a bounding radius."""

    centre: Array
    rotation: Array
    bound: float

    def local_ray(self, ox: float, X: Array, Y: Array) -> tuple[Array, list[Array]]:
        """Origin (3 floats) and direction (3 arrays) of the rays in the shape's frame."""
        rot = self.rotation
        origin = rot.T @ (np.array([ox, 0.0, 0.0]) - self.centre)
        direction = [rot[0, i] * X + rot[1, i] * Y + rot[2, i] for i in range(3)]
        return origin, direction

    def local_points(self, ox: float, X: Array, Y: Array, z: Array) -> Array:
        """Hit points in the shape's frame, (n, 3), in the dtype of the rays."""
        dtype = z.dtype
        rotation = self.rotation.astype(dtype)
        offset = ((np.array([ox, 0.0, 0.0]) - self.centre) @ self.rotation).astype(dtype)
        # R^T (o + z d - c) = R^T (o - c) + z R^T d: the constant part once, not per pixel.
        local = np.outer(z * X, rotation[0]) + np.outer(z * Y, rotation[1])
        local += np.outer(z, rotation[2])
        local += offset
        return local

    def world_normals(self, local: Array) -> Array:
        return local @ self.rotation.T.astype(local.dtype)


@dataclass
class Cutout(Shape):
    """A plane through the centre (local z = 0) clipped to a 2D mask: leaves, blades, signs, walls."""

    mask: Mask = field(default=None)  # type: ignore[assignment]

    def depth(self, ox: float, X: Array, Y: Array) -> Array:
        rot = self.rotation
        origin = rot.T @ (np.array([ox, 0.0, 0.0]) - self.centre)
        dz = rot[0, 2] * X + rot[1, 2] * Y + rot[2, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -origin[2] / dz
            hit = t > 0
            if self.mask is not FULL:  # walls are unbounded: no need for the point in the plane
                dx = rot[0, 0] * X + rot[1, 0] * Y + rot[2, 0]
                dy = rot[0, 1] * X + rot[1, 1] * Y + rot[2, 1]
                hit &= self.mask.inside(origin[0] + t * dx, origin[1] + t * dy)
        return np.where(hit, t, np.inf)

    def surface(self, ox: float, X: Array, Y: Array, z: Array) -> tuple[Array, Array, Array]:
        local = self.local_points(ox, X, Y, z)
        axis = self.rotation[:, 2].astype(local.dtype)
        # Both sides of a cut-out are seen: the normal is the one facing against the ray (X, Y, 1).
        facing = np.where(axis[0] * X + axis[1] * Y + axis[2] > 0, -1, 1).astype(local.dtype)
        normal = facing[:, None] * axis
        return np.zeros(len(z), np.int64), normal, local[:, :2]


@dataclass
class Sphere(Shape):
    radius: float = 1.0

    def depth(self, ox: float, X: Array, Y: Array) -> Array:
        ocx, ocy, ocz = np.array([ox, 0.0, 0.0]) - self.centre
        along = ocx * X + ocy * Y + ocz  # oc . d
        norm2 = X * X + Y * Y + 1
        # |oc x d|^2 instead of (oc.d)^2 - |d|^2 |oc|^2: no cancellation for far spheres.
        cross2 = (ocy - ocz * Y) ** 2 + (ocz * X - ocx) ** 2 + (ocx * Y - ocy * X) ** 2
        discriminant = norm2 * self.radius**2 - cross2
        with np.errstate(invalid="ignore"):
            t = (-along - np.sqrt(discriminant)) / norm2
        return np.where((discriminant >= 0) & (t > 0), t, np.inf)

    def surface(self, ox: float, X: Array, Y: Array, z: Array) -> tuple[Array, Array, Array]:
        local = self.local_points(ox, X, Y, z)
        normal = self.world_normals(local) / local.dtype.type(self.radius)
        # Cylindrical equal-area coordinates: arc length around the axis, height along it.
        around = local.dtype.type(self.radius) * np.arctan2(local[:, 1], local[:, 0])
        uv = np.stack([around, local[:, 2]], axis=-1)
        return np.zeros(len(z), np.int64), normal, uv


@dataclass
class Cylinder(Shape):
    """A capped cylinder along local z: posts, cans and, thin, rods and wires."""

    radius: float = 1.0
    half_length: float = 1.0

    def depth(self, ox: float, X: Array, Y: Array) -> Array:
        origin, (dx, dy, dz) = self.local_ray(ox, X, Y)
        a = dx * dx + dy * dy
        b = origin[0] * dx + origin[1] * dy
        cross = origin[0] * dy - origin[1] * dx
        discriminant = a * self.radius**2 - cross * cross
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(discriminant)
            side_in, side_out = (-b - root) / a, (-b + root) / a
            cap_a = (self.half_length - origin[2]) / dz
            cap_b = (-self.half_length - origin[2]) / dz
        enter = np.maximum(side_in, np.minimum(cap_a, cap_b))
        leave = np.minimum(side_out, np.maximum(cap_a, cap_b))
        hit = (discriminant >= 0) & (enter <= leave) & (enter > 0)
        return np.where(hit, enter, np.inf)

    def surface(self, ox: float, X: Array, Y: Array, z: Array) -> tuple[Array, Array, Array]:
        local = self.local_points(ox, X, Y, z)
        radial = np.hypot(local[:, 0], local[:, 1])
        radius, half_length = local.dtype.type(self.radius), local.dtype.type(self.half_length)
        on_side = np.abs(radial - radius) < np.abs(np.abs(local[:, 2]) - half_length)
        face = np.where(on_side, 0, np.where(local[:, 2] > 0, 1, 2))
        zero = np.zeros_like(radial)
        side_normal = np.stack([local[:, 0], local[:, 1], zero], -1) / np.maximum(radial, 1e-30)[:, None]
        cap_normal = np.stack([zero, zero, np.sign(local[:, 2])], -1)
        normal_local = np.where(on_side[:, None], side_normal, cap_normal)
        around = radius * np.arctan2(local[:, 1], local[:, 0])
        uv = np.where(on_side[:, None], np.stack([around, local[:, 2]], -1), local[:, :2])
        return face, self.world_normals(normal_local), uv


@dataclass
class Polyhedron(Shape):
    """A convex polyhedron {p : n_k . p <= h_k} in the local frame: boxes, prisms, slabs."""

    normals: Array = field(default=None)  # type: ignore[assignment]  # (k, 3) unit, local
    offsets: Array = field(default=None)  # type: ignore[assignment]  # (k,)

    def __post_init__(self) -> None:
        self.world_face_normals = self.normals @ self.rotation.T
        self.world_offsets = self.offsets + self.world_face_normals @ self.centre
        tangents = [_tangents(normal) for normal in self.normals]
        self.first_tangents = np.stack([first for first, _ in tangents])
        self.second_tangents = np.stack([second for _, second in tangents])

    def depth(self, ox: float, X: Array, Y: Array) -> Array:
        enter = leave = None
        for (nx, ny, nz), offset in zip(self.world_face_normals, self.world_offsets, strict=True):
            denominator = nx * X + ny * Y + nz
            numerator = offset - nx * ox
            with np.errstate(divide="ignore", invalid="ignore"):
                t = numerator / denominator
            face_enter = np.where(denominator < 0, t, np.where(numerator < 0, np.inf, -np.inf))
            face_leave = np.where(denominator > 0, t, np.where(numerator < 0, -np.inf, np.inf))
            enter = face_enter if enter is None else np.maximum(enter, face_enter)
            leave = face_leave if leave is None else np.minimum(leave, face_leave)
        return np.where((enter <= leave) & (enter > 0), enter, np.inf)

    def surface(self, ox: float, X: Array, Y: Array, z: Array) -> tuple[Array, Array, Array]:
        local = self.local_points(ox, X, Y, z)
        # The point lies on the face whose plane it is closest to (residual ~0, all others negative).
        dtype = local.dtype
        face = np.argmax(local @ self.normals.T.astype(dtype) - self.offsets.astype(dtype), axis=1)
        normal = self.world_face_normals.astype(dtype)[face]
        first, second = self.first_tangents.astype(dtype)[face], self.second_tangents.astype(dtype)[face]
        uv = np.stack([(local * first).sum(-1), (local * second).sum(-1)], axis=-1)
        return face, normal, uv


def box(centre: Array, rotation: Array, half_sizes: Array) -> Polyhedron:
    normals = np.concatenate([np.eye(3), -np.eye(3)])
    offsets = np.concatenate([half_sizes, half_sizes]).astype(float)
    return Polyhedron(centre, rotation, float(np.linalg.norm(half_sizes)), normals, offsets)


def room(centre: Array, rotation: Array, half_sizes: Array) -> list[Cutout]:
    """The six walls of a box the cameras stand in, as unbounded planes: from inside, the nearest wall
    a ray meets is the one it leaves the box through."""
    walls = []
    for axis in range(3):
        for sign in (1.0, -1.0):
            normal = sign * rotation[:, axis]
            walls.append(
                Cutout(centre + normal * half_sizes[axis], frame_from_normal(normal), math.inf, FULL)
            )
    return walls


def prism(centre: Array, rotation: Array, corners: Array, half_length: float) -> Polyhedron:
    """A straight prism along local z over a convex polygon of ``corners`` (m, 2), counter-clockwise."""
    edges = np.roll(corners, -1, axis=0) - corners
    outward = np.stack([edges[:, 1], -edges[:, 0]], axis=-1)
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    sides = np.column_stack([outward, np.zeros(len(corners))])
    normals = np.concatenate([sides, [[0, 0, 1.0], [0, 0, -1.0]]])
    offsets = np.concatenate([(outward * corners).sum(-1), [half_length, half_length]])
    bound = float(np.hypot(np.linalg.norm(corners, axis=1).max(), half_length))
    return Polyhedron(centre, rotation, bound, normals, offsets)
