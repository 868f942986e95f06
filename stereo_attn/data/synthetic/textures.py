"""Procedural textures for the synthetic scenes: noise at several scales, gradients, near-flat areas,
repetitive patterns and blotches, as real scenes mix them.

Every texture is an RGB float32 patch in [0, 1], band-limited (built by cubic upsampling or smooth
functions) so that sampling it at sub-pixel positions in the right view is accurate.
"""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("noise", "gradient", "flat", "stripes", "checker", "blotches")
# Weights of the kinds: mostly textured, with some hard cases (flat, repetitive) as in real scenes.
KIND_WEIGHTS = np.array([0.35, 0.12, 0.08, 0.15, 0.10, 0.20])


def _smooth_noise(
    rng: np.random.Generator, height: int, width: int, cell: float, channels: int, correlation: float = 1.0
) -> np.ndarray:
    """Zero-mean noise with features about ``cell`` pixels wide: a random grid, cubic upsampling.

    ``correlation`` mixes a shared grid into every channel (1: grey noise, 0: independent channels);
    mixing happens on the small grid, so it costs nothing at full size.
    """
    grid_h = max(2, int(np.ceil(height / cell)) + 1)
    grid_w = max(2, int(np.ceil(width / cell)) + 1)
    grid = rng.standard_normal((grid_h, grid_w, channels), dtype=np.float32)
    if channels > 1 and correlation > 0:
        shared = rng.standard_normal((grid_h, grid_w, 1), dtype=np.float32)
        grid = correlation * shared + (1 - correlation) * grid
    up = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return up.reshape(height, width, channels)


def _palette(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.uniform(0.05, 0.95, (count, 3)).astype(np.float32)


def _coordinates(height: int, width: int, angle: float) -> np.ndarray:
    """Pixel positions projected on a direction at ``angle``: (H, W), by broadcasting a row and a column."""
    xs = np.arange(width, dtype=np.float32) * np.float32(np.cos(angle))
    ys = np.arange(height, dtype=np.float32) * np.float32(np.sin(angle))
    return ys[:, None] + xs[None, :]


def make_texture(rng: np.random.Generator, height: int, width: int, kind: str | None = None) -> np.ndarray:
    """A texture patch (H, W, 3) in [0, 1], of a random kind unless ``kind`` names one."""
    if kind is None:
        kind = KINDS[rng.choice(len(KINDS), p=KIND_WEIGHTS / KIND_WEIGHTS.sum())]
    elif kind not in KINDS:
        raise ValueError(f"texture kind must be one of {KINDS}, got {kind!r}")
    base, other = _palette(rng, 2)
    if kind == "noise":
        texture = np.empty((height, width, 3), np.float32)
        texture[:] = base
        for cell in rng.choice([2.0, 4.0, 8.0, 16.0, 32.0, 64.0], size=rng.integers(2, 5), replace=False):
            octave = _smooth_noise(rng, height, width, cell, 3, correlation=rng.uniform(0.5, 0.9))
            octave *= np.float32(rng.uniform(0.05, 0.25))
            texture += octave
    elif kind == "gradient":
        ramp = _coordinates(height, width, rng.uniform(0, np.pi))
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
        texture = base + (other - base) * ramp[..., None]
        texture += _smooth_noise(rng, height, width, 3.0, 1) * 0.02
    elif kind == "flat":
        # Nearly textureless: only faint fine noise, as on walls and sky.
        texture = base + _smooth_noise(rng, height, width, 2.0, 1) * 0.01
    elif kind == "stripes":
        period = rng.uniform(4, 24)
        phase = _coordinates(height, width, rng.uniform(0, np.pi)) * (2 * np.pi / period)
        wave = 0.5 + 0.5 * np.sin(phase)
        texture = base + (other - base) * wave[..., None]
        texture += _smooth_noise(rng, height, width, 4.0, 1) * 0.03
    elif kind == "checker":
        period = rng.uniform(6, 30)
        angle = rng.uniform(0, np.pi / 2)
        a = _coordinates(height, width, angle) * (np.pi / period)
        b = _coordinates(height, width, angle + np.pi / 2) * (np.pi / period)
        # A smoothed checkerboard: sign of sin*sin through a steep tanh keeps it band-limited.
        board = 0.5 + 0.5 * np.tanh(4 * np.sin(a) * np.sin(b))
        texture = base + (other - base) * board[..., None]
    else:  # blotches: two colours split by thresholded smooth noise
        field = _smooth_noise(rng, height, width, rng.uniform(6, 40), 1)[..., 0]
        mix = 0.5 + 0.5 * np.tanh(3 * field)
        texture = base + (other - base) * mix[..., None]
        texture += _smooth_noise(rng, height, width, 2.0, 1) * 0.04
    return np.clip(texture, 0.0, 1.0, out=texture.astype(np.float32, copy=False))
