"""Planar 2D shapes: the outlines of the flat generator's patches and of the 3D world's cut-outs.

A mask is a function of (u, v), a position relative to its centre in the plane's own units (pixels for
the flat generator, scene units for the world). ``bound`` is the radius of a circle that contains it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FLAT_KINDS = ("ellipse", "rectangle", "polygon", "blob")
# The world adds the thin outlines of real clutter: leaves and grass blades or ribbons.
WORLD_KINDS = (*FLAT_KINDS, "leaf", "blade")


@dataclass(frozen=True)
class Mask:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    bound: float = math.inf

    def inside(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Where (u, v) lies in the shape."""
        p = self.params
        if self.kind == "full":
            return np.ones(np.broadcast(u, v).shape, bool)
        cos, sin = math.cos(p["angle"]), math.sin(p["angle"])
        ru, rv = u * cos + v * sin, -u * sin + v * cos
        if self.kind == "ellipse":
            return (ru / p["ra"]) ** 2 + (rv / p["rb"]) ** 2 <= 1
        if self.kind == "rectangle":
            return (np.abs(ru) <= p["ra"]) & (np.abs(rv) <= p["rb"])
        if self.kind == "polygon":  # intersection of half-planes around the centre
            inside = np.ones(np.broadcast(u, v).shape, bool)
            for normal_angle, distance in zip(p["normals"], p["distances"], strict=True):
                inside &= ru * math.cos(normal_angle) + rv * math.sin(normal_angle) <= distance
            return inside
        if self.kind in ("leaf", "blade"):  # a lens with pointed tips: width (1 - s^2)^sharpness
            along = np.clip(1 - (ru / p["ra"]) ** 2, 0, None)
            return (np.abs(ru) <= p["ra"]) & (np.abs(rv) <= p["rb"] * along ** p["sharpness"])
        # blob: an ellipse whose radius wobbles with the angle
        angle = np.arctan2(rv / p["rb"], ru / p["ra"])
        wobble = 1 + sum(amp * np.cos(k * angle + phase) for k, amp, phase in p["harmonics"])
        return (ru / p["ra"]) ** 2 + (rv / p["rb"]) ** 2 <= wobble**2


FULL = Mask("full")


def random_mask(rng: np.random.Generator, radius: float, kinds: tuple[str, ...] = FLAT_KINDS) -> Mask:
    """A random shape about ``radius`` in size, of one of ``kinds``."""
    kind = kinds[rng.integers(len(kinds))]
    ra = radius * rng.uniform(0.5, 1.0)
    rb = radius * rng.uniform(0.3, 1.0)
    params: dict[str, Any] = {"angle": rng.uniform(0, np.pi), "ra": ra, "rb": rb}
    bound = max(ra, rb)
    if kind == "rectangle":
        bound = math.hypot(ra, rb)
    elif kind == "polygon":
        sides = int(rng.integers(3, 8))
        params["normals"] = np.sort(rng.uniform(0, 2 * np.pi, sides)).tolist()
        params["distances"] = (ra * rng.uniform(0.4, 1.0, sides)).tolist()
        # A polygon with too few directions could be unbounded: clip it by the ellipse's box.
        params["normals"] += [0.0, np.pi / 2, np.pi, 3 * np.pi / 2]
        params["distances"] += [ra, rb, ra, rb]
        bound = math.hypot(ra, rb)
    elif kind == "blob":
        params["harmonics"] = [(k, rng.uniform(0, 0.15), rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5)]
        bound = max(ra, rb) * 1.45
    elif kind in ("leaf", "blade"):
        params["ra"] = radius  # the length is the size; the width is a fraction of it
        params["rb"] = radius * (rng.uniform(0.2, 0.5) if kind == "leaf" else rng.uniform(0.02, 0.1))
        params["sharpness"] = rng.uniform(0.5, 1.5)
        bound = radius
    return Mask(kind, params, bound)
