"""Scoring methods on a benchmark's samples: per-image rows and pixel-weighted summaries.

Every method is scored densely: a baseline's holes are filled before scoring, never skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from stereo_attn.data.writers import markdown_table
from stereo_attn.evaluation.metrics import METRICS, MetricTotals, error_sums
from stereo_attn.evaluation.protocols import Protocol, regions
from stereo_attn.inference.predict import check_memory, predict

Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


def network_predictor(network: nn.Module, device: torch.device) -> Predictor:
    """(H, W, 3) float RGB pair -> (H, W) disparity from the network, full frame; a ``MemoryBudgetError``
    for a pair too large for the device's free memory."""

    def predict_pair(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        check_memory(network, [left.shape[:2]], 1, device)  # a clear error instead of the allocator's
        return predict(network, [left], [right], device)[0][0]

    return predict_pair


def evaluate(
    samples: Iterable[dict[str, Any]],
    methods: dict[str, Predictor],
    protocol: Protocol,
    max_disparity: float,
    count: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Score every method on every sample. Returns per-image rows and, per method, a pixel-weighted summary:
    epe, bad1, bad2, bad3, d1 and images over the protocol's headline region, plus all_* and noc_*."""
    totals = {method: {"all": MetricTotals(), "noc": MetricTotals()} for method in methods}
    seconds = {method: 0.0 for method in methods}
    rows = []
    for sample in tqdm(samples, total=count, desc="evaluating", unit="pair"):
        masks = regions(sample, protocol, max_disparity)
        row: dict[str, Any] = {"name": sample_name(sample), "pixels": int(masks[protocol.headline].sum())}
        for method, predictor in methods.items():
            start = time.perf_counter()
            prediction = predictor(sample["left"], sample["right"])
            seconds[method] += time.perf_counter() - start
            for region, mask in masks.items():
                totals[method][region].update(prediction, sample["disparity"], mask)
            image = MetricTotals(
                error_sums(prediction, sample["disparity"], masks[protocol.headline])
            ).compute()
            row.update({f"{method}_{k}": v for k, v in image.items()})
        rows.append(row)
    summaries = {}
    for method in methods:
        summary: dict[str, Any] = {}
        for region in ("all", "noc"):
            computed = totals[method][region].compute()
            summary.update({f"{region}_{k}": v for k, v in computed.items()})
        summary.update({k: summary[f"{protocol.headline}_{k}"] for k in METRICS})
        summary.update(
            images=len(rows), region=protocol.headline, seconds_per_image=seconds[method] / max(len(rows), 1)
        )
        summaries[method] = summary
    return rows, summaries


def sample_name(sample: dict[str, Any]) -> str:
    meta = sample.get("meta", {})
    return str(meta.get("left_path") or meta.get("name") or meta.get("index", ""))


SHOWN = (
    ("epe", "EPE (px)"),
    ("bad1", "bad-1 (%)"),
    ("bad2", "bad-2 (%)"),
    ("bad3", "bad-3 (%)"),
    ("d1", "D1 (%)"),
)


def summary_table(summaries: dict[str, dict[str, Any]]) -> str:
    """Methods side by side over the headline region, as a markdown table."""
    rows = [[label, *(f"{s[key]:.3f}" for s in summaries.values())] for key, label in SHOWN]
    rows.append(["images", *(str(s["images"]) for s in summaries.values())])
    region = next(iter(summaries.values()))["region"]
    return markdown_table([f"{region} pixels", *summaries], rows)
