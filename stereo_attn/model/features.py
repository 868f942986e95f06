"""Shared 2D feature extractor at 1/4 resolution, with a context branch for guided upsampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stereo_attn.model.layers import ResidualBlock2d, conv2d

# Images come in as RGB in [0, 1]; the network sees them standardized.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class FeatureExtractor(nn.Module):
    """(B, 3, H, W) -> matching features (B, C, H/4, W/4) and a trunk for the context branch."""

    def __init__(self, channels: Sequence[int] = (16, 24, 32), blocks: int = 2) -> None:
        super().__init__()
        half, quarter, out = channels
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        self.trunk = nn.Sequential(
            conv2d(3, half, stride=2),
            conv2d(half, half),
            conv2d(half, quarter, stride=2),
            *(ResidualBlock2d(quarter) for _ in range(blocks)),
        )
        self.matching = nn.Sequential(conv2d(quarter, out), nn.Conv2d(out, out, 1))
        self.out_channels, self.trunk_channels = out, quarter

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        trunk = self.trunk((images - self.mean) / self.std)
        return self.matching(trunk), trunk
