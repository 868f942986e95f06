"""Stereo error metrics, each over an explicit validity mask (repositories disagree on defaults).

- EPE: mean |d - gt|.
- bad-N: percentage of pixels with |d - gt| > N pixels.
- D1 (KITTI devkit): percentage with |d - gt| > 3 px AND > 5% of gt.

``MetricTotals`` accumulates sums and pixel counts, so results over a dataset are pixel-weighted
(every valid pixel counts once), as the benchmarks' devkits compute them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

BAD_THRESHOLDS = (1.0, 2.0, 3.0)
METRICS = ("epe", *(f"bad{t:g}" for t in BAD_THRESHOLDS), "d1")  # the one name of each, everywhere
Map = torch.Tensor | np.ndarray


def _as_tensor(x: Map) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def error_sums(prediction: Map, target: Map, mask: Map) -> dict[str, float]:
    """Sums over the masked pixels: absolute error, bad-N and D1 counts, and the pixel count."""
    prediction, target = _as_tensor(prediction).double(), _as_tensor(target).double()
    mask = _as_tensor(mask).bool()
    if not prediction.shape == target.shape == mask.shape:
        raise ValueError(
            f"shapes differ: prediction {tuple(prediction.shape)}, target {tuple(target.shape)}, "
            f"mask {tuple(mask.shape)}"
        )
    error = (prediction - target).abs()[mask]
    sums = {"pixels": float(mask.sum()), "abs_error": float(error.sum())}
    for threshold in BAD_THRESHOLDS:
        sums[f"bad{threshold:g}"] = float((error > threshold).sum())
    sums["d1"] = float(((error > 3) & (error > 0.05 * target[mask])).sum())
    return sums


@dataclass
class MetricTotals:
    """Pixel-weighted EPE, bad-N and D1 over many images."""

    sums: dict[str, float] = field(default_factory=dict)

    def update(self, prediction: Map, target: Map, mask: Map) -> None:
        for key, value in error_sums(prediction, target, mask).items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    def compute(self) -> dict[str, float]:
        """{"epe", "bad1", "bad2", "bad3", "d1"}: EPE in pixels, the rest in percent; nan without pixels."""
        pixels = self.sums.get("pixels", 0.0)
        if pixels == 0:
            return dict.fromkeys(METRICS, float("nan"))
        result = {"epe": self.sums["abs_error"] / pixels}
        for threshold in BAD_THRESHOLDS:
            result[f"bad{threshold:g}"] = 100 * self.sums[f"bad{threshold:g}"] / pixels
        result["d1"] = 100 * self.sums["d1"] / pixels
        return result


def in_range_mask(target: Map, valid: Map, max_disparity: float) -> Map:
    """Pixels with ground truth inside a network's range, ``0 < gt < max_disparity`` (the anchors' rule for
    training and Scene Flow evaluation); numpy or torch, matching the inputs."""
    return valid & (target > 0) & (target < max_disparity)
