"""How fast the generator is, and how hard its scenes are for a classical matcher."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ..baselines import fill_holes, sgbm_disparity
from ..metrics import MetricTotals
from ..viz import stereo_montage
from .synthetic import SyntheticConfig, SyntheticStereo


def generator_speed(
    config: SyntheticConfig, height: int, width: int, pairs: int, rounds: int, seed: int
) -> dict[str, Any]:
    """Pairs per second on one core (one thread for torch and OpenCV, as in a DataLoader worker).

    The median over ``rounds`` rounds of ``pairs`` different pairs: this machine is shared, and single
    runs of the same code varied by 30%.
    """
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    dataset = SyntheticStereo("train", pairs * rounds + 1, seed, replace(config, height=height, width=width))
    dataset[pairs * rounds]  # warm-up: imports, first allocations
    per_round = []
    for round_index in range(rounds):
        start = time.perf_counter()
        for index in range(round_index * pairs, (round_index + 1) * pairs):
            dataset[index]
        per_round.append(pairs / (time.perf_counter() - start))
    return {
        "height": height,
        "width": width,
        "pairs": pairs,
        "rounds": rounds,
        "pairs_per_second": float(np.median(per_round)),
        "pairs_per_second_rounds": per_round,
    }


def sgbm_scores(config: SyntheticConfig, pairs: int, seed: int, block_size: int) -> dict[str, Any]:
    """StereoSGBM on test pairs: EPE and bad-N over all pixels (holes filled) and over visible ones."""
    dataset = SyntheticStereo("test", pairs, seed, config)
    totals = {"all": MetricTotals(), "noc": MetricTotals()}
    density = []
    for index in tqdm(range(pairs), desc="StereoSGBM", unit="pair"):
        sample = dataset[index]
        raw = sgbm_disparity(sample["left"], sample["right"], config.max_disparity, block_size)
        density.append(float(np.isfinite(raw).mean()))
        prediction = fill_holes(raw)
        totals["all"].update(prediction, sample["disparity"], sample["valid"])
        totals["noc"].update(prediction, sample["disparity"], sample["valid_noc"])
    result: dict[str, Any] = {"pairs": pairs, "block_size": block_size, "density": float(np.mean(density))}
    for region, total in totals.items():
        result.update({f"{region}_{name}": value for name, value in total.compute().items()})
    return result


def preview(config: SyntheticConfig, count: int, seed: int) -> np.ndarray:
    """A montage of the first test pairs (left, right, colour-mapped disparity) at half size."""
    dataset = SyntheticStereo("test", count, seed, config)
    montage = stereo_montage([dataset[index] for index in range(count)], config.max_disparity)
    return cv2.resize(montage, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
