"""Benchmark evaluation: each benchmark's protocol (masks, range), per-image rows and a summary.

Protocols (../shared/DESIGN.md; the headline region is where the benchmark's own ranking counts):
- Scene Flow, synthetic: every pixel with 0 < gt < max disparity (192 on Scene Flow), full frames.
- KITTI 2012/2015: all pixels with ground truth (the occ maps), and the non-occluded (noc) maps too.
- Middlebury 2014, ETH3D: non-occluded pixels (mask0nocc == 255) with finite ground truth; all valid too.
Every method is scored densely: a baseline's holes are filled before scoring, never skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .baselines import fill_holes, sgbm_disparity
from .benchmarking import markdown_table
from .inference import check_memory
from .metrics import MetricTotals, error_sums, in_range_mask


@dataclass(frozen=True)
class Protocol:
    headline: str  # "all" or "noc": the region the summary's top-level metrics come from
    range_cut: bool  # count only 0 < gt < max disparity (Scene Flow's rule)


PROTOCOLS = {
    "synthetic": Protocol("all", range_cut=True),
    "sceneflow": Protocol("all", range_cut=True),
    "kitti2015": Protocol("all", range_cut=False),
    "kitti2012": Protocol("all", range_cut=False),
    "kitti_mix": Protocol("all", range_cut=False),
    "middlebury": Protocol("noc", range_cut=False),
    "eth3d": Protocol("noc", range_cut=False),
}
METRIC_NAMES = {"epe": "epe", "bad1": "bad1", "bad2": "bad2", "bad3": "bad3", "d1": "d1_kitti"}


def regions(sample: dict[str, Any], protocol: Protocol, max_disparity: float) -> dict[str, np.ndarray]:
    """The masks a sample is scored on: "all" (every valid pixel) and "noc" (non-occluded)."""
    target = np.asarray(sample["disparity"])
    masks = {"all": np.asarray(sample["valid"]), "noc": np.asarray(sample["valid_noc"])}
    if protocol.range_cut:
        masks = {name: in_range_mask(target, mask, max_disparity) for name, mask in masks.items()}
    return masks


Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


def network_predictor(network: nn.Module, device: torch.device) -> Predictor:
    """(H, W, 3) float RGB pair -> (H, W) disparity from the network, full frame; a ``MemoryBudgetError``
    for a pair too large for the device's free memory."""

    def predict(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        check_memory(network, [left.shape[:2]], 1, device)  # a clear error instead of the allocator's
        as_batch = lambda image: torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]  # noqa: E731
        with torch.inference_mode():
            output = network(as_batch(left).to(device), as_batch(right).to(device))
        return output["disparity"][0].float().cpu().numpy()

    return predict


def sgbm_predictor(max_disparity: float) -> Predictor:
    return lambda left, right: fill_holes(sgbm_disparity(left, right, max_disparity))


def evaluate(
    samples: Iterable[dict[str, Any]],
    methods: dict[str, Predictor],
    protocol: Protocol,
    max_disparity: float,
    count: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Score every method on every sample. Returns per-image rows and, per method, a pixel-weighted summary:
    epe, bad1, bad2, bad3, d1_kitti and images over the protocol's headline region, plus all_* and noc_*."""
    totals = {method: {"all": MetricTotals(), "noc": MetricTotals()} for method in methods}
    seconds = {method: 0.0 for method in methods}
    rows = []
    for sample in tqdm(samples, total=count, desc="evaluating", unit="pair"):
        masks = regions(sample, protocol, max_disparity)
        row: dict[str, Any] = {"name": sample_name(sample), "pixels": int(masks[protocol.headline].sum())}
        for method, predict in methods.items():
            start = time.perf_counter()
            prediction = predict(sample["left"], sample["right"])
            seconds[method] += time.perf_counter() - start
            for region, mask in masks.items():
                totals[method][region].update(prediction, sample["disparity"], mask)
            image = MetricTotals(
                error_sums(prediction, sample["disparity"], masks[protocol.headline])
            ).compute()
            row.update({f"{method}_{METRIC_NAMES[k]}": v for k, v in image.items()})
        rows.append(row)
    summaries = {}
    for method in methods:
        summary: dict[str, Any] = {}
        for region in ("all", "noc"):
            computed = totals[method][region].compute()
            summary.update({f"{region}_{METRIC_NAMES[k]}": v for k, v in computed.items()})
        summary.update(
            {METRIC_NAMES[k]: summary[f"{protocol.headline}_{METRIC_NAMES[k]}"] for k in METRIC_NAMES}
        )
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
    ("d1_kitti", "D1 (%)"),
)


def summary_table(summaries: dict[str, dict[str, Any]]) -> str:
    """Methods side by side over the headline region, as a markdown table."""
    rows = [[label, *(f"{s[key]:.3f}" for s in summaries.values())] for key, label in SHOWN]
    rows.append(["images", *(str(s["images"]) for s in summaries.values())])
    region = next(iter(summaries.values()))["region"]
    return markdown_table([f"{region} pixels", *summaries], rows)
