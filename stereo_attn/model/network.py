"""The stereo network, in the order of the data path:

pad -> shared 2D features at 1/4 -> group-wise correlation volume (D = max_disparity / 4) -> 3D
aggregation with attention over the volume -> soft-argmin (disparity + confidence) -> convex x4
upsampling guided by the left image's features -> crop the padding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stereo_attn.model.aggregation import CostAggregation
from stereo_attn.model.cost_volume import groupwise_correlation
from stereo_attn.model.features import FeatureExtractor
from stereo_attn.model.heads import ConvexUpsampler, soft_argmin

# Two stride-2 3D stages below 1/4 resolution: image sizes pad to multiples of 16, D to multiples of 4.
STRIDE = 16


class StereoNetwork(nn.Module):
    """(left, right) RGB in [0, 1], (B, 3, H, W) of any size -> disparity (B, H, W) in pixels.

    Returns a dict: ``disparity`` (final), ``disparities`` (every stage in training, the final one in
    eval mode), ``confidence`` (B, H, W) in [0, 1].
    """

    def __init__(
        self,
        max_disparity: int = 192,
        features: Mapping[str, Any] | None = None,
        groups: int = 8,
        aggregation: Mapping[str, Any] | None = None,
        attention: Mapping[str, Any] | None = None,
        attention_places: Sequence[str] = ("quarter",),
        attention_overrides: Mapping[str, Any] | None = None,
        upsample_hidden: int = 64,
        regression_window: int | None = None,
        name: str = "",
    ) -> None:
        super().__init__()
        if max_disparity < 4:
            raise ValueError(f"max_disparity must be at least 4 pixels, got {max_disparity}")
        self.name = name
        self.max_disparity = max_disparity
        if regression_window is not None and regression_window < 0:
            raise ValueError(f"regression_window must be null or a bin count >= 0, got {regression_window}")
        # Inference only: training's soft-argmin spans every bin, so the loss reaches all of them.
        self.regression_window = regression_window
        # Disparity bins at 1/4 resolution, rounded up so the hourglass can halve D twice.
        self.bins = math.ceil(max_disparity / 4 / 4) * 4
        self.groups = groups
        self.features = FeatureExtractor(**(features or {}))
        self.aggregation = CostAggregation(
            groups,
            **(aggregation or {}),
            attention=attention,
            places=attention_places,
            overrides=attention_overrides,
            guide_channels=self.features.trunk_channels,
        )
        self.upsampler = ConvexUpsampler(self.features.trunk_channels, factor=4, hidden=upsample_hidden)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> dict[str, Any]:
        if left.shape != right.shape or left.dim() != 4 or left.shape[1] != 3:
            shapes = f"{tuple(left.shape)} and {tuple(right.shape)}"
            raise ValueError(f"expected left and right of one shape (B, 3, H, W), got {shapes}")
        height, width = left.shape[-2:]
        pad = (0, -width % STRIDE, 0, -height % STRIDE)  # right and bottom, replicating the border
        images = F.pad(torch.cat([left, right]), pad, mode="replicate")
        features, trunk = self.features(images)
        left_features, right_features = features.chunk(2)
        volume = groupwise_correlation(left_features, right_features, self.bins, self.groups)
        left_trunk = trunk.chunk(2)[0]
        scores = self.aggregation(volume, left_trunk, every_stage=self.training)
        weights = self.upsampler.weights(left_trunk)
        disparities, confidence = [], None
        for stage_scores in scores:
            window = None if self.training else self.regression_window
            disparity, confidence = soft_argmin(stage_scores, window)
            disparities.append(self.upsampler(disparity, weights)[:, :height, :width])
        confidence = F.interpolate(confidence[:, None], scale_factor=4, mode="bilinear", align_corners=False)
        return {
            "disparity": disparities[-1],
            "disparities": disparities,
            "confidence": confidence[:, 0, :height, :width],
        }
