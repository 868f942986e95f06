"""Smooth-L1 over every network output, weighted per stage, on valid pixels below the max disparity."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from stereo_attn.evaluation.metrics import in_range_mask


def stage_weights(stages: int, weights: Sequence[float] | None = None) -> list[float]:
    """Per-output weights, coarse to final. Default: GwcNet's (0.5, 0.5, 0.7, 1.0), taken from the end."""
    if weights is None:
        weights = [0.5] * max(stages - 2, 0) + [0.7, 1.0]
        return list(weights[-stages:])
    if len(weights) != stages:
        raise ValueError(
            f"loss.stage_weights has {len(weights)} entries but the network has {stages} outputs"
        )
    return [float(w) for w in weights]


def disparity_loss(
    disparities: Sequence[torch.Tensor],
    target: torch.Tensor,
    valid: torch.Tensor,
    max_disparity: float,
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """sum_k w_k smooth_l1(d_k, gt) over the mask; zero (with a graph) when no pixel qualifies."""
    mask = in_range_mask(target, valid, max_disparity)
    weights = stage_weights(len(disparities), weights)
    if not mask.any():  # e.g. a crop of sky: keep the graph so every rank runs the same backward
        return sum(w * d.sum() * 0 for w, d in zip(weights, disparities, strict=True))
    return sum(
        w * F.smooth_l1_loss(d.float()[mask], target[mask]) for w, d in zip(weights, disparities, strict=True)
    )
