"""Scatter plots with error bars, drawn with OpenCV (the stack has no plotting library)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
# Tableau's ten colours (RGB): one per point, in order.
PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip
MARGIN = {"left": 58, "right": 16, "top": 34, "bottom": 44}


class Point(NamedTuple):
    label: str
    x: float
    y: float
    y_error: float = 0.0


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    raw = (high - low) / max(count - 1, 1) or abs(high) or 1.0
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _span(values: Sequence[float], pad: float = 0.12) -> tuple[float, float]:
    low, high = min(values), max(values)
    extra = (high - low) * pad or abs(high) * 0.1 or 1.0
    return low - extra, high + extra


def _text(
    image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.4, colour=(40, 40, 40)
) -> None:
    cv2.putText(image, text, origin, FONT, scale, colour, 1, cv2.LINE_AA)


def scatter_panel(
    points: Sequence[Point], title: str, x_label: str, size: tuple[int, int] = (360, 440)
) -> np.ndarray:
    """(H, W, 3) uint8 RGB: ``points`` with vertical error bars and labels, axes with round ticks."""
    if not points:
        raise ValueError("a scatter panel needs at least one point")
    height, width = size
    image = np.full((height, width, 3), 255, np.uint8)
    x_low, x_high = _span([p.x for p in points])
    y_low, y_high = _span([p.y - p.y_error for p in points] + [p.y + p.y_error for p in points])
    left, right = MARGIN["left"], width - MARGIN["right"]
    top, bottom = MARGIN["top"], height - MARGIN["bottom"]

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        u = left + (x - x_low) / (x_high - x_low) * (right - left)
        v = bottom - (y - y_low) / (y_high - y_low) * (bottom - top)
        return round(u), round(v)

    for tick in nice_ticks(y_low, y_high):
        _, v = to_pixel(x_low, tick)
        cv2.line(image, (left, v), (right, v), (230, 230, 230), 1)
        _text(image, f"{tick:g}", (6, v + 4))
    for tick in nice_ticks(x_low, x_high):
        u, _ = to_pixel(tick, y_low)
        cv2.line(image, (u, bottom), (u, bottom + 4), (40, 40, 40), 1)
        _text(image, f"{tick:g}", (u - 12, bottom + 17))
    cv2.rectangle(image, (left, top), (right, bottom), (40, 40, 40), 1)
    for index, point in enumerate(points):
        colour = PALETTE[index % len(PALETTE)]
        u, v = to_pixel(point.x, point.y)
        if point.y_error > 0:
            _, v_low = to_pixel(point.x, point.y - point.y_error)
            _, v_high = to_pixel(point.x, point.y + point.y_error)
            cv2.line(image, (u, v_low), (u, v_high), colour, 1, cv2.LINE_AA)
            for cap in (v_low, v_high):
                cv2.line(image, (u - 4, cap), (u + 4, cap), colour, 1, cv2.LINE_AA)
        cv2.circle(image, (u, v), 4, colour, -1, cv2.LINE_AA)
        _text(image, point.label, (min(u + 7, right - 8 * len(point.label)), v - 5), 0.38, colour)
    _text(image, title, (left, 22), 0.5)
    _text(image, x_label, (left + (right - left) // 2 - 4 * len(x_label), height - 10))
    return image


def side_by_side(panels: Sequence[np.ndarray]) -> np.ndarray:
    """Panels of one height, left to right."""
    return np.concatenate(list(panels), axis=1)
