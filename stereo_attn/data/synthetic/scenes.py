"""Procedural stereo scenes with exact disparity: the built-in default dataset.

A scene is a background, a slanted ground plane and many textured objects at random depths. Every
surface is a patch whose disparity is an exact function of its left-view position (u, v) relative to
its centre,

    d(u, v) = a + b u + c v + kx u^2 + ky v^2,

planar in disparity space (a 3D plane) or bent by the quadratic terms (a curved surface). A surface
point at left-view x appears in the right view at x_r = x - d; the coefficients keep that map monotonic
in u, so each right-view pixel is inverted in closed form to the surface point it shows. Both views
are z-buffered by disparity over the same scene and sample the same texture at the same surface point:
occlusions are correct in both views and the left-view disparity is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from stereo_attn.data.sample import Sample, make_sample
from stereo_attn.data.synthetic.dataset import GeneratedStereo
from stereo_attn.data.synthetic.masks import FULL, Mask, random_mask
from stereo_attn.data.synthetic.options import GeneratorOptions
from stereo_attn.data.synthetic.textures import make_texture


@dataclass(frozen=True)
class SyntheticConfig(GeneratorOptions):
    """What a generated scene looks like. The defaults are a CPU-sized world: 160x320 pairs with disparities
    up to 80 px (a quarter of the pixels of 320x640 at the same relative depth range)."""

    height: int = 160
    width: int = 320
    min_disparity: float = 1.0
    max_disparity: float = 80.0
    min_objects: int = 8
    max_objects: int = 20
    noise_std: float = 0.01  # sensor noise per view
    photometric: float = 1.0  # scale of the per-view gain, bias and gamma differences


@dataclass
class Surface:
    """One textured patch; shape and disparity are functions of (u, v) = left-view position - centre."""

    cx: float
    cy: float
    coefficients: tuple[float, float, float, float, float]  # a, b, c, kx, ky
    mask: Mask
    half_extent: tuple[float, float]  # |u| and |v| bounds of the shape
    # The texture covers left-view pixels [x0, x0 + size[1]) x [y0, y0 + size[0]): where either view
    # can see the surface. It is made on first use from its own seed, so hidden surfaces cost nothing
    # and a scene does not depend on which surfaces turn out visible.
    x0: int
    y0: int
    size: tuple[int, int]
    texture_seed: int
    _texture: np.ndarray | None = None

    @property
    def texture(self) -> np.ndarray:
        if self._texture is None:
            self._texture = make_texture(np.random.default_rng(self.texture_seed), *self.size)
        return self._texture

    def disparity(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        a, b, c, kx, ky = self.coefficients
        return a + b * u + c * v + kx * u * u + ky * v * v

    def disparity_bounds(self) -> tuple[float, float]:
        a, b, c, kx, ky = self.coefficients
        ru, rv = self.half_extent
        spread = abs(b) * ru + abs(c) * rv + abs(kx) * ru * ru + abs(ky) * rv * rv
        return a - spread, a + spread

    def left_u(self, right_u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """u of the surface point seen at right-view offset ``right_u`` (= x_r - cx), and where one exists.

        Solves kx u^2 + (b - 1) u + q = 0 with q = a + c v + ky v^2 + right_u, taking the root that
        tends to the linear one as kx -> 0, in the cancellation-free form 2q / ((1-b) + sqrt(D)).
        """
        a, b, c, kx, ky = self.coefficients
        q = a + c * v + ky * v * v + right_u
        discriminant = (1 - b) ** 2 - 4 * kx * q
        exists = discriminant >= 0
        root = np.sqrt(np.maximum(discriminant, 0.0))
        return 2 * q / ((1 - b) + root), exists

    def inside(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self.mask.inside(u, v)


def sample_disparity(rng: np.random.Generator, low: float, high: float) -> float:
    """Half uniform in disparity, half log-uniform (uniform in depth): scenes have many far things."""
    if rng.random() < 0.5:
        return float(rng.uniform(low, high))
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _random_coefficients(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    extent: tuple[float, float],
    level: float,
    slope_scale: float,
) -> tuple[float, float, float, float, float]:
    """Disparity coefficients around ``level`` with random slant and curvature, monotonic and in range."""
    ru, rv = extent
    # Slopes and curvature bounded so that dx_r/du = 1 - b - 2 kx u stays above 0.6 over the patch.
    b = rng.uniform(-0.35, 0.35) * slope_scale
    kx = rng.uniform(-1, 1) * (0.4 - abs(b)) / (4 * ru + 1e-6) * (rng.random() < 0.4) * slope_scale
    c = rng.uniform(-0.3, 0.3) * slope_scale
    ky = rng.uniform(-1, 1) * 0.3 / (rv + 1e-6) * (rng.random() < 0.4) * slope_scale
    spread = abs(b) * ru + abs(c) * rv + abs(kx) * ru * ru + abs(ky) * rv * rv
    room = (cfg.max_disparity - cfg.min_disparity) / 2
    if spread > room:  # too much variation for the range: flatten it
        b, c, kx, ky = (coefficient * room / spread for coefficient in (b, c, kx, ky))
        spread = room
    a = float(np.clip(level, cfg.min_disparity + spread, cfg.max_disparity - spread))
    return a, b, c, kx, ky


def _surface(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    centre: tuple[float, float],
    extent: tuple[float, float],
    mask: Mask,
    coefficients: tuple[float, float, float, float, float],
) -> Surface:
    cx, cy = centre
    ru, rv = extent
    a, b, c, kx, ky = coefficients
    largest = a + abs(b) * ru + abs(c) * rv + abs(kx) * ru * ru + abs(ky) * rv * rv
    # Texture only where either view can see it: the frame, widened right by the largest disparity.
    x0, x1 = max(math.floor(cx - ru), -1), min(math.floor(cx + ru) + 2, cfg.width + math.ceil(largest) + 2)
    y0, y1 = max(math.floor(cy - rv), -1), min(math.floor(cy + rv) + 2, cfg.height + 1)
    size = (max(y1 - y0, 1), max(x1 - x0, 1))
    seed = int(rng.integers(2**63))
    return Surface(cx, cy, coefficients, mask, extent, x0, y0, size, seed)


def random_scene(rng: np.random.Generator, cfg: SyntheticConfig) -> list[Surface]:
    """Background, ground plane and objects; the z-buffer, not the list order, decides visibility."""
    h, w = cfg.height, cfg.width
    far = cfg.min_disparity + 0.1 * (cfg.max_disparity - cfg.min_disparity) * rng.random()
    # The background must cover every right-view pixel too, i.e. left-view x up to w + its disparity.
    back_extent = ((w + far + 4) / 2, h / 2 + 2)
    back = _random_coefficients(rng, cfg, back_extent, far, slope_scale=0.0)
    surfaces = [_surface(rng, cfg, (back_extent[0] - 2, h / 2), back_extent, FULL, back)]
    if rng.random() < 0.7:  # a ground plane rising from the horizon, as in driving scenes
        horizon = h * rng.uniform(0.35, 0.7)
        depth = h - horizon
        near = cfg.min_disparity + (cfg.max_disparity - cfg.min_disparity) * rng.uniform(0.2, 0.7)
        extent = ((w + near) / 2 + 8, depth / 2)  # wide enough for what the right view sees of it
        ground = (far + (near - far) / 2, 0.0, (near - far) / depth, 0.0, 0.0)
        surfaces.append(_surface(rng, cfg, (extent[0] - 8, horizon + depth / 2), extent, FULL, ground))
    for _ in range(int(rng.integers(cfg.min_objects, cfg.max_objects + 1))):
        radius = min(h, w) * math.exp(rng.uniform(math.log(0.05), math.log(0.45)))
        mask = random_mask(rng, radius)
        bound = mask.bound
        cx = rng.uniform(-0.1 * w, 1.15 * w)  # objects right of the frame can still show in the right view
        cy = rng.uniform(-0.1 * h, 1.1 * h)
        coefficients = _random_coefficients(
            rng, cfg, (bound, bound), sample_disparity(rng, cfg.min_disparity, cfg.max_disparity), 1.0
        )
        surfaces.append(_surface(rng, cfg, (cx, cy), (bound, bound), mask, coefficients))
    return surfaces


def render(surfaces: list[Surface], height: int, width: int) -> tuple[np.ndarray, ...]:
    """Colour and disparity of the front-most surface at every pixel of both views.

    Returns (left, right, left_disparity, right_disparity); disparity is -inf where nothing is seen.
    """
    views = {
        side: (np.zeros((height, width, 3), np.float32), np.full((height, width), -np.inf)) for side in "lr"
    }
    for surface in surfaces:
        low, high = surface.disparity_bounds()
        for side, shift_low, shift_high in (("l", 0.0, 0.0), ("r", high, low)):
            # Pixels the surface can reach: its box, moved left by its disparity in the right view.
            x_start = max(0, surface.x0 - math.ceil(shift_low))
            x_stop = min(width, surface.x0 + surface.size[1] - math.floor(shift_high))
            y_start, y_stop = max(0, surface.y0), min(height, surface.y0 + surface.size[0])
            if x_start >= x_stop or y_start >= y_stop:
                continue
            xs = np.arange(x_start, x_stop, dtype=np.float32) - np.float32(surface.cx)
            v = (np.arange(y_start, y_stop, dtype=np.float32) - np.float32(surface.cy))[:, None]
            if side == "l":
                u, exists = np.broadcast_to(xs, (len(v), len(xs))), True
            else:
                u, exists = surface.left_u(xs[None, :], v)
            visible = exists & surface.inside(u, v)
            disparity = surface.disparity(u, v)
            colour_view, depth_view = views[side]
            depth = depth_view[y_start:y_stop, x_start:x_stop]
            update = visible & (disparity > depth)
            if not update.any():
                continue
            np.copyto(depth, disparity, where=update)
            if side == "l":  # the left view samples the patch at whole pixels: a slice
                rows = slice(y_start - surface.y0, y_stop - surface.y0)
                colour = surface.texture[rows, x_start - surface.x0 : x_stop - surface.x0]
            else:  # the right view samples it between pixels: bilinear
                map_x = (u + np.float32(surface.cx - surface.x0)).astype(np.float32, copy=False)
                map_y = np.broadcast_to(v + np.float32(surface.cy - surface.y0), u.shape).astype(np.float32)
                colour = cv2.remap(
                    surface.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
                )
            np.copyto(colour_view[y_start:y_stop, x_start:x_stop], colour, where=update[..., None])
    (left, left_disparity), (right, right_disparity) = views["l"], views["r"]
    return left, right, left_disparity, right_disparity


def _photometric(rng: np.random.Generator, image: np.ndarray, cfg: SyntheticConfig) -> np.ndarray:
    """Per-view camera response: gain, colour cast, bias, gamma and noise, differing between views."""
    s = cfg.photometric
    gain = rng.uniform(1 - 0.1 * s, 1 + 0.1 * s) * rng.uniform(1 - 0.03 * s, 1 + 0.03 * s, 3)
    bias = rng.uniform(-0.03 * s, 0.03 * s)
    gamma = rng.uniform(1 - 0.1 * s, 1 + 0.1 * s)
    out = cv2.pow(image, gamma)  # several times faster than np.power on float32
    out *= gain.astype(np.float32)
    # Uniform sensor noise with the configured standard deviation: several times cheaper to draw.
    noise = rng.random(image.shape, dtype=np.float32)
    noise *= np.float32(cfg.noise_std * 12**0.5)
    noise += np.float32(bias - cfg.noise_std * 3**0.5)
    out += noise
    return np.clip(out, 0, 1, out=out)


def visible_in_right(
    left_disparity: np.ndarray, right_disparity: np.ndarray, tolerance: float = 1.0
) -> np.ndarray:
    """Left pixels whose surface point is the front-most one where it lands in the right view."""
    width = left_disparity.shape[1]
    target = np.arange(width)[None, :] - left_disparity
    column = np.clip(np.round(target).astype(int), 0, width - 1)
    seen = np.take_along_axis(right_disparity, column, axis=1)
    return (target >= 0) & (target <= width - 1) & (np.abs(seen - left_disparity) <= tolerance)


def generate(rng: np.random.Generator, cfg: SyntheticConfig) -> Sample:
    """One stereo pair with exact left-view disparity; ``valid_noc``: pixels visible in the right view."""
    left, right, left_disparity, right_disparity = render(random_scene(rng, cfg), cfg.height, cfg.width)
    if not np.isfinite(left_disparity).all():  # the background covers every pixel by construction
        raise AssertionError("a left-view pixel shows no surface")
    noc = visible_in_right(left_disparity, right_disparity)
    left, right = _photometric(rng, left, cfg), _photometric(rng, right, cfg)
    disparity = left_disparity.astype(np.float32)
    meta = {"dataset": "synthetic", "left_path": "", "right_path": ""}
    return make_sample(left, right, disparity, np.ones_like(noc), meta, valid_noc=noc)


class SyntheticStereo(GeneratedStereo):
    """``length`` generated pairs of one split (see ``GeneratedStereo``)."""

    options = SyntheticConfig

    def generate(self, rng: np.random.Generator) -> Sample:
        return generate(rng, self.config)
