"""Pictures a person would rather look at: colour-mapped disparity and side-by-side views."""

from __future__ import annotations

import cv2
import numpy as np


def colorize_disparity(
    disparity: np.ndarray, max_disparity: float, valid: np.ndarray | None = None
) -> np.ndarray:
    """(H, W) disparity -> (H, W, 3) uint8 RGB with a fixed range [0, max_disparity] (turbo: near is red),
    so images of one run are comparable; invalid pixels are black."""
    scaled = np.clip(np.nan_to_num(disparity) / max_disparity, 0, 1)
    rgb = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    if valid is not None:
        rgb = np.where(valid[..., None], rgb, 0).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def stereo_montage(samples: list[dict], max_disparity: float) -> np.ndarray:
    """One row per sample: left, right, colour-mapped ground truth; (rows*H, 3*W, 3) uint8 RGB."""
    rows = [
        np.concatenate(
            [
                to_uint8(s["left"]),
                to_uint8(s["right"]),
                colorize_disparity(s["disparity"], max_disparity, s["valid"]),
            ],
            axis=1,
        )
        for s in samples
    ]
    return np.concatenate(rows, axis=0)


def colorize_error(error: np.ndarray, max_error: float, valid: np.ndarray) -> np.ndarray:
    """(H, W) absolute error -> uint8 RGB over a fixed range [0, max_error] (inferno: bright is wrong);
    pixels without ground truth are black."""
    scaled = np.clip(np.nan_to_num(error) / max_error, 0, 1)
    rgb = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    return np.ascontiguousarray(np.where(valid[..., None], rgb, 0).astype(np.uint8))


def prediction_row(
    left: np.ndarray,
    target: np.ndarray,
    valid: np.ndarray,
    prediction: np.ndarray,
    max_disparity: float,
    max_error: float,
) -> np.ndarray:
    """left | ground truth | prediction | error side by side, (H, 4W, 3) uint8 RGB, fixed colour ranges."""
    return np.concatenate(
        [
            to_uint8(left),
            colorize_disparity(target, max_disparity, valid),
            colorize_disparity(prediction, max_disparity),
            colorize_error(np.abs(prediction - target), max_error, valid),
        ],
        axis=1,
    )


def add_colorbar(rgb: np.ndarray, max_disparity: float, unit: str = "px") -> np.ndarray:
    """Append a vertical colour bar for [0, max_disparity] (top = max) labelled in ``unit`` to the right of
    an image made by ``colorize_disparity``: (H, W + bar, 3) uint8 RGB on a white panel."""
    height = rgb.shape[0]
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1
    values = [max_disparity, max_disparity / 2, 0.0]
    labels = [f"{value:g} {unit}" for value in values]
    text_w = max(cv2.getTextSize(label, font, scale, thickness)[0][0] for label in labels)
    text_h = cv2.getTextSize(labels[0], font, scale, thickness)[0][1]
    bar_x, bar_w, gap = 4, 10, 4
    panel = np.full((height, bar_x + bar_w + gap + text_w + 4, 3), 255, np.uint8)
    margin = min(text_h // 2 + 2, max(height // 4, 0))  # room for the end labels, centred on the ends
    rows = max(height - 2 * margin, 1)
    ramp = np.linspace(max_disparity, 0.0, rows, dtype=np.float64)[:, None].repeat(bar_w, axis=1)
    panel[margin : margin + rows, bar_x : bar_x + bar_w] = colorize_disparity(ramp, max_disparity)
    # The middle label only where three labels fit without overlapping.
    shown = [0, 1, 2] if height >= 3 * (text_h + 4) else [0, 2]
    for index in shown:
        row = margin + round((rows - 1) * index / 2)
        baseline_y = int(np.clip(row + text_h // 2, text_h, height - 1))
        origin = (bar_x + bar_w + gap, baseline_y)
        cv2.putText(panel, labels[index], origin, font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return np.concatenate([np.asarray(rgb, np.uint8), panel], axis=1)


def labelled(rgb: np.ndarray, label: str) -> np.ndarray:
    """An image with a white strip above it holding ``label`` in black: (H + strip, W, 3) uint8 RGB."""
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1
    (_, text_h), _ = cv2.getTextSize(label, font, scale, thickness)
    strip = np.full((text_h + 10, rgb.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (4, text_h + 4), font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return np.concatenate([strip, np.asarray(rgb, np.uint8)], axis=0)


def method_comparison(
    sample: dict,
    predictions: dict[str, np.ndarray],
    max_error: float,
) -> np.ndarray:
    """Methods side by side on one pair: a first column of the left view over the ground truth, then
    per method its disparity over its error. Disparities share one colour range (the ground truth's
    largest value), errors another ([0, max_error]), so columns compare at a glance."""
    target, valid = sample["disparity"], sample["valid"]
    max_disparity = float(np.max(target[valid])) if valid.any() else 1.0
    columns = [
        np.concatenate(
            [
                labelled(to_uint8(sample["left"]), "left"),
                labelled(colorize_disparity(target, max_disparity, valid), "ground truth"),
            ],
            axis=0,
        )
    ]
    for name, prediction in predictions.items():
        error = np.abs(prediction - target)
        epe = float(error[valid].mean()) if valid.any() else float("nan")
        disparity = labelled(colorize_disparity(prediction, max_disparity), name)
        errors = labelled(
            colorize_error(error, max_error, valid), f"{name} error, EPE {epe:.2f} (0-{max_error:g} px)"
        )
        columns.append(np.concatenate([disparity, errors], axis=0))
    return np.concatenate(columns, axis=1)
