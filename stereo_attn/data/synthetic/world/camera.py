"""The rectified stereo rig: two pinhole cameras side by side, the right one ``baseline`` along +x.

Pixel centres are at integer (x, y); the image covers [-0.5, width - 0.5] x [-0.5, height - 0.5]. A
point at depth z has disparity focal * baseline / z in both views, and the rays of a pixel (x, y) are
(X, Y, 1) with X = (x - cx) / focal, Y = (y - cy) / focal (see shapes.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIDES = ("left", "right")


@dataclass(frozen=True)
class StereoRig:
    height: int
    width: int
    focal: float  # pixels
    baseline: float  # scene units

    @property
    def cx(self) -> float:
        return (self.width - 1) / 2

    @property
    def cy(self) -> float:
        return (self.height - 1) / 2

    def origin(self, side: str) -> float:
        """The x of a camera centre (both lie on the x axis)."""
        return 0.0 if side == "left" else self.baseline

    def ray_x(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, float) - self.cx) / self.focal

    def ray_y(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, float) - self.cy) / self.focal

    def disparity(self, depth: np.ndarray) -> np.ndarray:
        return self.focal * self.baseline / depth

    def depth(self, disparity: float) -> float:
        return self.focal * self.baseline / disparity

    def ray_window(
        self, centre: np.ndarray, bound: float, ox: float
    ) -> tuple[float, float, float, float] | None:
        """Bounds (X_lo, X_hi, Y_lo, Y_hi) of the rays from ``ox`` that can meet a sphere around ``centre``;
        None when it reaches the camera plane (every ray may meet it)."""
        near, far = centre[2] - bound, centre[2] + bound
        if not math.isfinite(bound) or near <= 1e-9:
            return None
        spans = []
        for offset in (centre[0] - ox, centre[1]):
            low, high = offset - bound, offset + bound
            spans += [min(low / near, low / far), max(high / near, high / far)]
        return spans[0], spans[1], spans[2], spans[3]

    def pixel_box(
        self, centre: np.ndarray, bound: float, ox: float, margin: tuple[float, float] = (0.0, 0.0)
    ) -> tuple[slice, slice] | None:
        """Rows and columns of the pixel centres whose rays can meet the sphere; None when none can.

        ``margin`` (low, high) widens the columns to [x_lo + low, x_hi + high]: the left pixels whose
        points land at x - d in this view, for disparities d in that range.
        """
        window = self.ray_window(centre, bound, ox)
        if window is None:
            return slice(0, self.height), slice(0, self.width)
        x_lo, x_hi, y_lo, y_hi = window
        x0 = max(0, math.ceil(self.cx + self.focal * x_lo + margin[0]))
        x1 = min(self.width, math.floor(self.cx + self.focal * x_hi + margin[1]) + 1)
        y0 = max(0, math.ceil(self.cy + self.focal * y_lo))
        y1 = min(self.height, math.floor(self.cy + self.focal * y_hi) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        return slice(y0, y1), slice(x0, x1)
