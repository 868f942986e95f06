"""The real pair that ships with the project (data/real/aloe, Middlebury 2006), scored at several sizes
with the model next to StereoSGBM: the demo's check that what was learned on synthetic scenes holds on a
photograph. Dense (every pixel with ground truth, PROTOCOLS["aloe"]), with one picture per size."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from stereo_attn.data.readers.middlebury2006 import Middlebury2006
from stereo_attn.data.writers import markdown_table
from stereo_attn.evaluation.evaluate import Predictor, evaluate
from stereo_attn.evaluation.protocols import PROTOCOLS
from stereo_attn.viz import method_comparison

ERROR_RANGE = 8.0  # pixels at the top of the error colour map: real errors run larger than synthetic ones


def size_name(scale: float) -> str:
    """0.333333 -> "1/3", 0.5 -> "1/2", 0.4 -> "0.4": the name a size is reported under."""
    inverse = 1.0 / scale
    return f"1/{round(inverse)}" if abs(inverse - round(inverse)) < 1e-3 else f"{scale:g}"


class Recording:
    """A predictor that keeps its predictions, so pictures reuse what was scored."""

    def __init__(self, predict: Predictor) -> None:
        self.predict = predict
        self.predictions: list[np.ndarray] = []

    def __call__(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        prediction = self.predict(left, right)
        self.predictions.append(prediction)
        return prediction


def score_real_pair(
    root: str | os.PathLike,
    scales: Sequence[float],
    methods: dict[str, Predictor],
    max_disparity: float,
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, np.ndarray]]:
    """Every pair under ``root`` at each scale: the summaries ({size: {method: summary}}) and one picture
    per size (left | ground truth | each method over its error; pairs stacked)."""
    summaries, pictures = {}, {}
    for scale in scales:
        dataset = Middlebury2006(root, scale=scale)
        samples = [dataset[i] for i in range(len(dataset))]
        recorded = {name: Recording(predict) for name, predict in methods.items()}
        _, summaries[size_name(scale)] = evaluate(
            samples, recorded, PROTOCOLS["aloe"], max_disparity, len(samples)
        )
        rows = [
            method_comparison(sample, {name: r.predictions[i] for name, r in recorded.items()}, ERROR_RANGE)
            for i, sample in enumerate(samples)
        ]
        pictures[size_name(scale)] = np.concatenate(rows, axis=0)
    return summaries, pictures


def real_pair_table(summaries: dict[str, dict[str, dict[str, Any]]]) -> str:
    """One row per size: each method's EPE and bad-2 side by side."""
    methods = list(next(iter(summaries.values())))
    headers = ["size", *(f"{m} EPE" for m in methods), *(f"{m} bad-2 (%)" for m in methods)]
    rows = [
        [
            size,
            *(f"{by_method[m]['epe']:.3f}" for m in methods),
            *(f"{by_method[m]['bad2']:.1f}" for m in methods),
        ]
        for size, by_method in summaries.items()
    ]
    return markdown_table(headers, rows)
