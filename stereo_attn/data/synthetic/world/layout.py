"""Random worlds in the manner of FlyingThings3D: a room or an open backdrop, large slanted surfaces, and
clutter of solids, rods and cut-outs at random poses, lit from one or two directions.

Every depth is drawn through disparity, so the configured range is what the cameras see: the rig's
focal length sets the field of view, the baseline is the scene unit, and a disparity d is the depth
f B / d. Nothing comes nearer than the largest disparity allows: walls are kept at least that far from
both cameras along every ray, objects and slanted planes are pushed back until their nearest point is.
"""

from __future__ import annotations

import math

import numpy as np

from stereo_attn.data.synthetic.masks import WORLD_KINDS, Mask, random_mask
from stereo_attn.data.synthetic.scenes import sample_disparity
from stereo_attn.data.synthetic.world.camera import StereoRig
from stereo_attn.data.synthetic.world.config import WorldConfig
from stereo_attn.data.synthetic.world.materials import Lighting, Material
from stereo_attn.data.synthetic.world.photos import PhotoLibrary
from stereo_attn.data.synthetic.world.render import World
from stereo_attn.data.synthetic.world.shapes import (
    Cutout,
    Cylinder,
    Shape,
    Sphere,
    box,
    frame_from_normal,
    prism,
    random_rotation,
    room,
    rotation_about,
)

OBJECT_KINDS = ("cutout", "box", "sphere", "cylinder", "rod", "prism")
OBJECT_WEIGHTS = np.array([0.30, 0.18, 0.14, 0.14, 0.10, 0.14])


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def random_material(
    rng: np.random.Generator,
    cfg: WorldConfig,
    photos: PhotoLibrary | None,
    pixel_size: float,
    flat_chance: float = 0.0,
) -> Material:
    """A texture for a surface whose pixels are about ``pixel_size`` scene units across."""
    seed = int(rng.integers(2**63))
    photo = None
    if photos is not None and rng.random() < cfg.photo_fraction:
        photo = int(rng.integers(len(photos)))
    # Photos at any scale (a texel over 0.3 to 3 pixels), procedural patterns near pixel scale.
    texels = _log_uniform(rng, 0.3, 3.0) if photo is not None else _log_uniform(rng, 0.5, 2.0)
    glossy = rng.random() < cfg.specular
    return Material(
        seed=seed,
        texel_size=pixel_size * texels,
        angle=float(rng.uniform(0, 2 * np.pi)),
        offset=(float(rng.uniform(0, 1024)), float(rng.uniform(0, 1024))),
        tint=tuple(float(g) for g in rng.uniform(0.6, 1.2) * rng.uniform(0.85, 1.15, 3)),
        saturation=float(rng.uniform(0.6, 1.3)) if photo is not None else 1.0,
        specular=float(rng.uniform(0.05, 0.6)) if glossy else 0.0,
        shininess=_log_uniform(rng, 8, 400),
        photo=photo,
        kind="flat" if photo is None and rng.random() < flat_chance else None,
    )


def random_rig(rng: np.random.Generator, cfg: WorldConfig) -> StereoRig:
    """Fields of view from about 40 to 85 degrees across; the baseline is the unit of length."""
    return StereoRig(cfg.height, cfg.width, cfg.width * rng.uniform(0.55, 1.4), 1.0)


def _steepest_ray(rig: StereoRig) -> float:
    """The longest ray direction (X, Y, 1) in the image: a point at distance D has depth >= D / this."""
    return math.sqrt(1 + (rig.width / 2 / rig.focal) ** 2 + (rig.height / 2 / rig.focal) ** 2)


def random_room(rng: np.random.Generator, rig: StereoRig, cfg: WorldConfig) -> list[Cutout]:
    """A box around both cameras: a room with near walls, or an open scene (ground, far walls, sky)."""
    nearest = rig.depth(cfg.max_disparity) * _steepest_ray(rig) * 1.02 + rig.baseline
    span = cfg.max_disparity - cfg.min_disparity
    # Half the scenes end far away, half at a middle distance: disparities across the range.
    fraction = rng.uniform(0, 0.35) if rng.random() < 0.5 else rng.uniform(0, 0.3) ** 2
    back = max(rig.depth(cfg.min_disparity + span * fraction), nearest * 1.5)
    if rng.random() < 0.5:  # open: far sides and sky, the ground below the cameras
        up = back * rng.uniform(0.5, 2.0)
        left, right = (back * rng.uniform(0.5, 2.0) for _ in range(2))
        floor = nearest * _log_uniform(rng, 1.0, 6.0)
    else:  # a room
        left, right, up, floor = (rng.uniform(nearest, max(back, nearest * 1.1)) for _ in range(4))
    behind = nearest
    # Camera-frame bounds (y points down): x in [-left, right], y in [-up, floor], z in [-behind, back].
    middle = np.array([(right - left) / 2, (floor - up) / 2, (back - behind) / 2])
    half = np.array([(left + right) / 2, (up + floor) / 2, (back + behind) / 2])
    yaw, pitch, roll = rng.uniform(-0.45, 0.45), rng.uniform(-0.2, 0.2), rng.uniform(-0.08, 0.08)
    rotation = (
        rotation_about([0, 1, 0], yaw) @ rotation_about([1, 0, 0], pitch) @ rotation_about([0, 0, 1], roll)
    )
    # Rotating the box about the camera keeps every wall's distance to it: the bound above still holds.
    return room(rotation @ middle, rotation, half)


def random_slanted_plane(rng: np.random.Generator, rig: StereoRig, cfg: WorldConfig) -> Cutout:
    """A large rectangle at a random tilt, up to grazing: walls, tables, the ground of a sub-scene."""
    depth = rig.depth(
        rng.uniform(cfg.min_disparity, cfg.min_disparity + 0.6 * (cfg.max_disparity - cfg.min_disparity))
    )
    pixel = (rng.uniform(0, rig.width), rng.uniform(0, rig.height))
    centre = np.array([rig.ray_x(pixel[0]) * depth, rig.ray_y(pixel[1]) * depth, depth])
    tilt = math.acos(rng.uniform(math.cos(math.radians(85)), 1.0))  # uniform over the cap: many steep
    azimuth = rng.uniform(0, 2 * np.pi)
    normal = np.array(
        [math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth), -math.cos(tilt)]
    )
    rotation = frame_from_normal(normal) @ rotation_about([0, 0, 1], rng.uniform(0, 2 * np.pi))
    frustum = depth * rig.width / rig.focal
    half = np.array([rng.uniform(0.2, 0.7), rng.uniform(0.2, 0.7)]) * frustum
    # Shrink it until its nearest corner is no nearer than the largest disparity allows.
    corners = np.array([[sx * half[0], sy * half[1], 0] for sx in (-1, 1) for sy in (-1, 1)]) @ rotation.T
    nearest = rig.depth(cfg.max_disparity)
    approach = -corners[:, 2].min()
    if approach > 0 and depth - approach < nearest:
        half *= max(depth - nearest, 0) / approach * 0.98
    mask = Mask(
        "rectangle", {"angle": 0.0, "ra": float(half[0]), "rb": float(half[1])}, float(np.hypot(*half))
    )
    return Cutout(centre, rotation, mask.bound, mask)


def _object(rng: np.random.Generator, kind: str, centre: np.ndarray, size: float, thin: float) -> Shape:
    """A shape of ``kind`` about ``size`` across at ``centre``; ``thin`` is the rods' radius."""
    rotation = random_rotation(rng)
    if kind == "cutout":
        mask = random_mask(rng, size, WORLD_KINDS)
        return Cutout(centre, rotation, mask.bound, mask)
    if kind == "box":
        return box(centre, rotation, size * rng.uniform(0.2, 0.8, 3))
    if kind == "sphere":
        radius = size * rng.uniform(0.4, 1.0)
        return Sphere(centre, rotation, radius, radius)
    if kind == "cylinder":
        radius, half_length = size * rng.uniform(0.15, 0.5), size * rng.uniform(0.3, 0.9)
        return Cylinder(centre, rotation, math.hypot(radius, half_length), radius, half_length)
    if kind == "rod":
        half_length = size * rng.uniform(1.0, 3.0)
        return Cylinder(centre, rotation, math.hypot(thin, half_length), thin, half_length)
    sides = int(rng.integers(3, 7))
    angles = np.sort(rng.uniform(0, 2 * np.pi, sides))
    corners = size * rng.uniform(0.3, 0.8) * np.column_stack([np.cos(angles), np.sin(angles)])
    return prism(centre, rotation, corners, size * rng.uniform(0.2, 0.8))


def random_object(
    rng: np.random.Generator, rig: StereoRig, cfg: WorldConfig, shapes: list[Shape]
) -> tuple[Shape, float]:
    """One piece of clutter, and the scene units per pixel at its depth (for its texture).

    Objects land anywhere either camera looks, sized from 4% to 50% of the image; some are placed just
    in front of whatever is already there, as clutter on a wall or a slanted surface.
    """
    kind = OBJECT_KINDS[rng.choice(len(OBJECT_KINDS), p=OBJECT_WEIGHTS / OBJECT_WEIGHTS.sum())]
    disparity = sample_disparity(rng, cfg.min_disparity, cfg.max_disparity)
    pixel = (rng.uniform(-0.1 * rig.width, 1.1 * rig.width + disparity), rng.uniform(-0.1, 1.1) * rig.height)
    direction = np.array([rig.ray_x(pixel[0]), rig.ray_y(pixel[1]), 1.0])
    size = min(rig.height, rig.width) * _log_uniform(rng, 0.04, 0.5) / rig.focal  # at depth 1
    thin = _log_uniform(rng, 0.3, 3.0) / rig.focal
    against = rng.random() < 0.35
    gap = rng.uniform(1.05, 2.0)
    seed = int(rng.integers(2**63))
    # The shape's proportions are drawn once at depth 1 (its bound per unit depth), then placed.
    relative_bound = _object(np.random.default_rng(seed), kind, np.zeros(3), size, thin).bound
    shrink = min(1.0, 0.5 / relative_bound)  # nothing so large that its near side reaches the camera
    relative_bound *= shrink
    depth = rig.depth(disparity)
    if against:  # rest it in front of the surface behind it
        behind = min(float(other.depth(0.0, direction[:1], direction[1:2])[0]) for other in shapes)
        if math.isfinite(behind):
            depth = behind / (1 + relative_bound * gap)
    # No nearer than the largest disparity: the bounding sphere starts behind that depth.
    depth = max(depth, rig.depth(cfg.max_disparity) * 1.01 / (1 - relative_bound))
    shape = _object(np.random.default_rng(seed), kind, direction * depth, size * shrink * depth, thin * depth)
    return shape, depth / rig.focal


def random_lighting(rng: np.random.Generator) -> Lighting:
    """One key light from above and in front, sometimes a weaker fill light; ambient for the shadows."""
    count = 1 if rng.random() < 0.5 else 2
    directions = np.column_stack(
        [rng.uniform(-1, 1, count), -rng.uniform(0.2, 1, count), -rng.uniform(0.1, 1, count)]
    )
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    intensities = np.array([rng.uniform(0.5, 1.0), rng.uniform(0.1, 0.5)][:count])
    return Lighting(directions, intensities, float(rng.uniform(0.15, 0.5)))


def random_world(rng: np.random.Generator, cfg: WorldConfig, photos: PhotoLibrary | None = None) -> World:
    """A room or backdrop, up to two large slanted planes, then the configured number of objects."""
    rig = random_rig(rng, cfg)
    shapes: list[Shape] = list(random_room(rng, rig, cfg))
    materials = []
    for wall in shapes:  # texel scale from the wall's distance to the cameras
        distance = abs(float(wall.rotation[:, 2] @ wall.centre))
        materials.append([random_material(rng, cfg, photos, distance / rig.focal, flat_chance=0.1)])
    for _ in range(int(rng.integers(0, 3))):
        plane = random_slanted_plane(rng, rig, cfg)
        shapes.append(plane)
        materials.append([random_material(rng, cfg, photos, plane.centre[2] / rig.focal, flat_chance=0.1)])
    for _ in range(int(rng.integers(cfg.min_objects, cfg.max_objects + 1))):
        shape, pixel_size = random_object(rng, rig, cfg, shapes)
        shapes.append(shape)
        materials.append([random_material(rng, cfg, photos, pixel_size, flat_chance=0.05)])
    return World(rig, shapes, materials, random_lighting(rng), photos)
