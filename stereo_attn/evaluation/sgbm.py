"""OpenCV's StereoSGBM, the classical baseline every evaluation can be compared with."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np


def sgbm_disparity(
    left: np.ndarray,
    right: np.ndarray,
    max_disparity: float,
    block_size: int = 5,
    uniqueness: int = 10,
    speckle_window: int = 100,
) -> np.ndarray:
    """OpenCV semi-global matching (3-way) on float RGB [0, 1] images; NaN where it finds no match.

    P1/P2 follow OpenCV's recommendation (8 and 32 x channels x block area). ``uniqueness``: the margin
    in percent by which the best cost must win; ``speckle_window``: the largest blob of similar
    disparities removed as noise (0: no speckle filter).
    """
    width = left.shape[1]
    # OpenCV fails (a negative allocation) unless the image is wider than the search range: search at
    # most the width, and pad images narrower than the smallest range (16) on the right.
    disparities = max(16, min(int(np.ceil(max_disparity / 16) * 16), (width - 1) // 16 * 16))
    if width <= disparities:
        pad = ((0, 0), (0, disparities + 1 - width), (0, 0))
        left, right = np.pad(left, pad, mode="edge"), np.pad(right, pad, mode="edge")
    matcher = cv2.StereoSGBM_create(
        minDisparity=0,
        numDisparities=disparities,
        blockSize=block_size,
        P1=8 * 3 * block_size**2,
        P2=32 * 3 * block_size**2,
        uniquenessRatio=uniqueness,
        speckleWindowSize=speckle_window,
        speckleRange=2,
        disp12MaxDiff=1,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )
    to_u8 = lambda image: cv2.cvtColor((np.clip(image, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)  # noqa: E731
    raw = matcher.compute(to_u8(left), to_u8(right)).astype(np.float32) / 16  # fixed point, 4 fractional bits
    raw[raw < 0] = np.nan
    return raw[:, :width]


def fill_holes(disparity: np.ndarray) -> np.ndarray:
    """Fill NaN with the lower of the nearest valid values left and right in the row (the KITTI devkit's
    background interpolation), so a method is scored on every pixel, holes included."""
    height, width = disparity.shape
    valid = np.isfinite(disparity)
    columns = np.broadcast_to(np.arange(width), (height, width))
    left_index = np.maximum.accumulate(np.where(valid, columns, -1), axis=1)
    right_index = np.flip(
        np.minimum.accumulate(np.flip(np.where(valid, columns, width), axis=1), axis=1), axis=1
    )
    rows = np.arange(height)[:, None]
    padded = np.concatenate([disparity, np.full((height, 1), np.inf)], axis=1)  # index -1 and width -> inf
    from_left = np.where(left_index >= 0, padded[rows, left_index], np.inf)
    from_right = padded[rows, np.minimum(right_index, width)]
    filled = np.where(valid, disparity, np.minimum(from_left, from_right))
    return np.where(np.isfinite(filled), filled, 0.0).astype(np.float32)


def sgbm_predictor(
    max_disparity: float, block_size: int = 5, uniqueness: int = 10, speckle_window: int = 100
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A predictor for ``evaluate``: StereoSGBM with its holes filled."""
    return lambda left, right: fill_holes(
        sgbm_disparity(left, right, max_disparity, block_size, uniqueness, speckle_window)
    )
