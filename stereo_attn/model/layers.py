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


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` that runs in fp32 where torch's bf16 CPU kernel is wrong.

    On the CPU, under bf16 autocast, the backward of a channels-last 3x3x3 convolution over an input
    of depth 2 reads uninitialized memory into the weight gradient (torch 2.13: NaN at random, about
    half the time after NaNs were freed; tests/test_model.py reproduces it). Such volumes are tiny (the
    1/16 stage of a 32 px range), so fp32 there costs nothing.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        affected = x.device.type == "cpu" and x.dim() == 5 and x.shape[2] == 2 and torch.is_grad_enabled()
        bf16 = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        if affected and bf16:
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def conv3d(in_channels: int, out_channels: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [
        Conv3d(in_channels, out_channels, 3, stride, padding=1, bias=False),
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
