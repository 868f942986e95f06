"""Convolution + batch norm + ReLU building blocks, 2D and 3D."""

from __future__ import annotations

import torch
from torch import nn


def conv2d(in_channels: int, out_channels: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [
        nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def conv3d(in_channels: int, out_channels: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [
        nn.Conv3d(in_channels, out_channels, 3, stride, padding=1, bias=False),
        nn.BatchNorm3d(out_channels),
    ]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def deconv3d(in_channels: int, out_channels: int) -> nn.Sequential:
    """Doubles D, H and W (inputs must have come from a stride-2 conv3d of even sizes)."""
    return nn.Sequential(
        nn.ConvTranspose3d(in_channels, out_channels, 3, 2, padding=1, output_padding=1, bias=False),
        nn.BatchNorm3d(out_channels),
    )


class ResidualBlock2d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv2d(channels, channels), conv2d(channels, channels, relu=False))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.body(x))
