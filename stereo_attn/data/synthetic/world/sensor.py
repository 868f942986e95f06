"""The camera model that turns rendered radiance into the two photographs.

Per pair: one exposure, white balance, vignetting and focus, with the two views differing by small
amounts (scaled by ``photometric``), as two real cameras of one rig do. Per view, in the order light
meets them: exposure and white balance on linear radiance, vignetting, depth-dependent defocus blur,
the gamma curve, sensor noise, and JPEG compression.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stereo_attn.data.synthetic.world.config import WorldConfig

BLUR_LEVELS = (0.0, 0.6, 1.0, 1.6)  # Gaussian sigmas (px) blended per pixel for the defocus


@dataclass(frozen=True)
class Exposure:
    """One view's camera response."""

    gain: np.ndarray  # (3,): exposure times white balance
    vignetting: float  # brightness lost at the corners
    gamma: float
    noise_std: float
    jpeg_quality: int | None


@dataclass(frozen=True)
class Focus:
    depth: float
    blur_per_inverse_depth: float  # sigma in px per unit of |1/z - 1/focus|


def sample_exposures(
    rng: np.random.Generator, cfg: WorldConfig, left_radiance: np.ndarray
) -> tuple[Exposure, Exposure]:
    """The two views' responses: auto-exposure on the left view, then per-view differences."""
    s = cfg.photometric
    key = float(np.mean(left_radiance)) + 1e-6
    gain = rng.uniform(0.18, 0.4) / key  # a linear mean of 0.18-0.4 is a mid-grey of 0.46-0.66
    balance = rng.uniform(0.9, 1.1, 3)
    vignetting = rng.uniform(0, 0.4) if rng.random() < 0.6 else 0.0
    gamma = rng.uniform(1.8, 2.6)
    noise = cfg.noise_std * rng.uniform(0.5, 1.5)
    views = []
    for _ in range(2):
        view_gain = (
            gain
            * rng.uniform(1 - 0.1 * s, 1 + 0.1 * s)
            * balance
            * rng.uniform(1 - 0.03 * s, 1 + 0.03 * s, 3)
        )
        quality = int(rng.integers(60, 96)) if rng.random() < cfg.jpeg else None
        views.append(Exposure(
            gain=view_gain.astype(np.float32),
            vignetting=vignetting * rng.uniform(0.8, 1.2),
            gamma=gamma * rng.uniform(1 - 0.05 * s, 1 + 0.05 * s),
            noise_std=noise * rng.uniform(0.8, 1.2),
            jpeg_quality=quality,
        ))  # fmt: skip
    return views[0], views[1]


def sample_focus(rng: np.random.Generator, cfg: WorldConfig, left_depth: np.ndarray) -> Focus | None:
    """A shallow depth of field focused on a random pixel's depth, or None (everything sharp)."""
    if rng.random() >= cfg.defocus:
        return None
    focus = float(left_depth.flat[rng.integers(left_depth.size)])
    spread = float(np.ptp(1 / left_depth)) + 1e-9
    # The most out-of-focus pixels blur by 0.6 to 1.6 px.
    return Focus(focus, rng.uniform(BLUR_LEVELS[1], BLUR_LEVELS[-1]) / spread)


def _defocus(image: np.ndarray, depth: np.ndarray, focus: Focus) -> np.ndarray:
    """Blend Gaussian-blurred copies by each pixel's circle of confusion, linearly between levels."""
    sigma = np.minimum(np.abs(1 / depth - 1 / focus.depth) * focus.blur_per_inverse_depth, BLUR_LEVELS[-1])
    out = np.zeros_like(image)
    last = len(BLUR_LEVELS) - 1
    for index, level in enumerate(BLUR_LEVELS):
        weight = np.ones_like(sigma)  # the hat function of this level: 1 at it, 0 at its neighbours
        if index > 0:
            below = BLUR_LEVELS[index - 1]
            weight = np.where(sigma < level, (sigma - below) / (level - below), weight)
        if index < last:
            above = BLUR_LEVELS[index + 1]
            weight = np.where(sigma > level, (above - sigma) / (above - level), weight)
        weight = np.clip(weight, 0, 1).astype(np.float32)
        if weight.any():
            blurred = image if level == 0 else cv2.GaussianBlur(image, (0, 0), level)
            out += blurred * weight[..., None]
    return out


def develop(
    rng: np.random.Generator,
    radiance: np.ndarray,
    depth: np.ndarray,
    exposure: Exposure,
    focus: Focus | None,
) -> np.ndarray:
    """One view's photograph, float32 (H, W, 3) in [0, 1]."""
    height, width = depth.shape
    image = radiance * exposure.gain
    if exposure.vignetting > 0:
        ys, xs = np.ogrid[:height, :width]
        radius2 = ((xs - (width - 1) / 2) / (width / 2)) ** 2 + ((ys - (height - 1) / 2) / (height / 2)) ** 2
        image *= (1 - exposure.vignetting * radius2 / 2)[..., None].astype(np.float32)
    if focus is not None:
        image = _defocus(image, depth, focus)
    np.clip(image, 0, 1, out=image)
    image = cv2.pow(image, 1 / exposure.gamma)
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(exposure.noise_std)
    np.clip(image, 0, 1, out=image)
    if exposure.jpeg_quality is not None:
        encoded = (image * 255 + 0.5).astype(np.uint8)
        _, buffer = cv2.imencode(
            ".jpg", encoded[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, exposure.jpeg_quality]
        )
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255
    return np.ascontiguousarray(image, np.float32)
