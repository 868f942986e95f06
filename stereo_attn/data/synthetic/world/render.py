"""Rendering a world from each camera of the rig: a z-buffer pass, anti-aliasing, shading, occlusion.

Each view is rendered on its own. The z-buffer pass casts one ray per pixel centre through every
shape's screen box and keeps the nearest hit: that depth is the ground truth (disparity = f B / z at
the pixel centre). Pixels where the front-most shape changes between neighbours are edges: they are
cast again at four sub-pixel positions and their colour is the mean of those, so images have
anti-aliased edges while ground truth stays the pixel-centre value. The shading pass then works on
the flat list of hits, shape by shape.

A left pixel is visible in the right view when the right camera's ray through the same 3D point (at
x - d on the same row) meets nothing in front of it and lands inside the right image: an exact test,
not a comparison of two disparity maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stereo_attn.data.synthetic.world.camera import StereoRig
from stereo_attn.data.synthetic.world.materials import Lighting, Material
from stereo_attn.data.synthetic.world.photos import PhotoLibrary
from stereo_attn.data.synthetic.world.shapes import Shape

# Rotated-grid sub-pixel offsets for edge pixels: four samples, no two on a row or a column.
SUBSAMPLES = ((0.125, -0.375), (0.375, 0.125), (-0.125, 0.375), (-0.375, -0.125))
OCCLUSION_TOLERANCE = 1e-4  # relative depth: a hit this close to the point is the point itself


@dataclass
class World:
    rig: StereoRig
    shapes: list[Shape]
    materials: list[list[Material]]  # per shape, per face (face index modulo the list's length)
    lighting: Lighting
    photos: PhotoLibrary | None = None


@dataclass
class Hits:
    depth: np.ndarray  # +inf where no shape is hit
    shape: np.ndarray  # index into world.shapes, -1 where none


def depth_grid(world: World, side: str) -> Hits:
    """The z-buffer pass over the pixel centres of one view."""
    rig = world.rig
    ox = rig.origin(side)
    rows = rig.ray_y(np.arange(rig.height))[:, None]
    columns = rig.ray_x(np.arange(rig.width))[None, :]
    depth = np.full((rig.height, rig.width), np.inf)
    shape_index = np.full((rig.height, rig.width), -1, np.int32)
    for index, shape in enumerate(world.shapes):
        box = rig.pixel_box(shape.centre, shape.bound, ox)
        if box is None:
            continue
        ys, xs = box
        t = shape.depth(ox, columns[:, xs], rows[ys])
        region = depth[ys, xs]
        closer = t < region
        np.copyto(region, t, where=closer)
        shape_index[ys, xs][closer] = index
    return Hits(depth, shape_index)


def cast(world: World, side: str, x: np.ndarray, y: np.ndarray) -> Hits:
    """The nearest hit of scattered rays through image positions (x, y) (flat arrays, any sub-pixel)."""
    rig = world.rig
    ox = rig.origin(side)
    X, Y = rig.ray_x(x), rig.ray_y(y)
    depth = np.full(len(X), np.inf)
    shape_index = np.full(len(X), -1, np.int32)
    for index, shape in enumerate(world.shapes):
        window = rig.ray_window(shape.centre, shape.bound, ox)
        if window is None:
            chosen = np.arange(len(X))
        else:
            x_lo, x_hi, y_lo, y_hi = window
            chosen = np.flatnonzero((x_lo <= X) & (x_hi >= X) & (y_lo <= Y) & (y_hi >= Y))
        if len(chosen) == 0:
            continue
        t = shape.depth(ox, X[chosen], Y[chosen])
        closer = t < depth[chosen]
        depth[chosen[closer]] = t[closer]
        shape_index[chosen[closer]] = index
    return Hits(depth, shape_index)


def shade(world: World, side: str, x: np.ndarray, y: np.ndarray, hits: Hits) -> tuple[np.ndarray, ...]:
    """Linear radiance (n, 3), face (n,) and surface coordinates (n, 2) of flat hits, shape by shape."""
    rig = world.rig
    ox = rig.origin(side)
    # Shading needs no more than single precision; the depths it starts from were found in double.
    X, Y = rig.ray_x(x).astype(np.float32), rig.ray_y(y).astype(np.float32)
    count = len(X)
    radiance = np.zeros((count, 3), np.float32)
    face = np.full(count, -1, np.int64)
    uv = np.full((count, 2), np.nan)
    order = np.argsort(hits.shape, kind="stable")
    starts = np.searchsorted(hits.shape[order], np.arange(len(world.shapes) + 1))
    for index, shape in enumerate(world.shapes):
        chosen = order[starts[index] : starts[index + 1]]
        if len(chosen) == 0:
            continue
        X_s, Y_s, z = X[chosen], Y[chosen], hits.depth[chosen].astype(np.float32)
        faces, normal, coords = shape.surface(ox, X_s, Y_s, z)
        ray_norm = np.sqrt(X_s * X_s + Y_s * Y_s + 1)
        view = -np.stack([X_s, Y_s, np.ones_like(X_s)], axis=-1) / ray_norm[:, None]
        # Scene units per pixel on the surface: the distance over the focal length, stretched by the
        # obliquity (the geometric mean of the footprint's two axes), for the texture's mip level.
        obliquity = np.maximum(np.abs(np.einsum("ij,ij->i", normal, view)), 0.05)
        footprint = z * ray_norm / np.float32(rig.focal) / np.sqrt(obliquity)
        materials = world.materials[index]
        if len(materials) == 1:
            albedo = materials[0].albedo(faces, coords, footprint, world.photos)
            radiance[chosen] = world.lighting.shade(albedo, normal, view, materials[0])
        else:
            which = faces % len(materials)
            for material_index, material in enumerate(materials):
                on = which == material_index
                if on.any():
                    albedo = material.albedo(faces[on], coords[on], footprint[on], world.photos)
                    radiance[chosen[on]] = world.lighting.shade(albedo, normal[on], view[on], material)
        face[chosen], uv[chosen] = faces, coords
    return radiance, face, uv


def edge_pixels(shape_index: np.ndarray) -> np.ndarray:
    """Pixels whose front-most shape differs from a 4-neighbour's."""
    edge = np.zeros(shape_index.shape, bool)
    horizontal = shape_index[:, 1:] != shape_index[:, :-1]
    vertical = shape_index[1:, :] != shape_index[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge


@dataclass
class View:
    radiance: np.ndarray  # (H, W, 3) linear, anti-aliased
    depth: np.ndarray  # (H, W) at pixel centres
    shape: np.ndarray  # (H, W) front-most shape at pixel centres


def render_view(world: World, side: str) -> View:
    rig = world.rig
    hits = depth_grid(world, side)
    ys, xs = np.mgrid[: rig.height, : rig.width]
    flat = Hits(hits.depth.ravel(), hits.shape.ravel())
    radiance = shade(world, side, xs.ravel().astype(float), ys.ravel().astype(float), flat)[0]
    radiance = radiance.reshape(rig.height, rig.width, 3)
    edge_y, edge_x = np.nonzero(edge_pixels(hits.shape))
    if len(edge_y):
        sub_x = np.concatenate([edge_x + dx for dx, _ in SUBSAMPLES]).astype(float)
        sub_y = np.concatenate([edge_y + dy for _, dy in SUBSAMPLES]).astype(float)
        sub_hits = cast(world, side, sub_x, sub_y)
        sub_radiance = shade(world, side, sub_x, sub_y, sub_hits)[0]
        radiance[edge_y, edge_x] = sub_radiance.reshape(len(SUBSAMPLES), len(edge_y), 3).mean(axis=0)
    return View(radiance, hits.depth, hits.shape)


def visible_in_right(world: World, left_depth: np.ndarray) -> np.ndarray:
    """Left pixels whose 3D point the right camera sees: nothing in front of it, inside the right image."""
    rig = world.rig
    ox = rig.origin("right")
    disparity = rig.disparity(left_depth)
    target = np.arange(rig.width)[None, :] - disparity  # where each left point lands in the right view
    columns, rows = rig.ray_x(target), rig.ray_y(np.arange(rig.height))[:, None]
    shift_lo, shift_hi = float(disparity.min()), float(disparity.max())
    blocked = np.zeros(left_depth.shape, bool)
    for shape in world.shapes:
        box = rig.pixel_box(shape.centre, shape.bound, ox, margin=(shift_lo, shift_hi))
        if box is None:
            continue
        ys, xs = box
        t = shape.depth(ox, columns[ys, xs], rows[ys])
        blocked[ys, xs] |= t < left_depth[ys, xs] * (1 - OCCLUSION_TOLERANCE)
    return (target >= -0.5) & ~blocked
