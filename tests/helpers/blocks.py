"""Attention blocks with random weights everywhere, so zero-initialised output projections do not hide
what a block mixes."""

from __future__ import annotations

import torch
from torch import nn

from stereo_attn.attention import build_attention


def randomize(block: nn.Module, std: float = 0.3) -> nn.Module:
    """Give every parameter random values, so zero-initialised output projections do not hide the mixing."""
    with torch.no_grad():
        for parameter in block.parameters():
            parameter.normal_(0.0, std)
    return block


def random_block(
    name: str, channels: int, dtype: torch.dtype = torch.float64, std: float = 0.3, **options
) -> nn.Module:
    return randomize(build_attention(name, channels, **options), std).to(dtype)
