"""Softmax dot-product attention over all voxels: the quadratic reference.

Its N x N map is what the linear blocks avoid (9.8 TB in fp32 for a 1/4-resolution Scene Flow
volume), so it exists for equivalence tests and the scaling benchmark, and refuses volumes whose
map would exceed a memory budget.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stereo_attn.attention.common import (
    ChannelNorm,
    Pointwise,
    ResidualProjection,
    VoxelOutput,
    check_divisible,
    split_heads,
)


class AttentionMapTooLarge(MemoryError):
    """The N x N attention map would not fit the configured memory budget."""


def attention_map_bytes(batch: int, heads: int, num_voxels: int, element_bytes: int = 4) -> int:
    """Bytes of the dense attention maps of a batch: B * heads * N^2 elements."""
    return batch * heads * num_voxels**2 * element_bytes


class DotProductAttention3d(nn.Module):
    """Residual multi-head softmax attention block, (B, C, D, H, W) -> (B, C, D, H, W)."""

    def __init__(
        self,
        channels: int,
        key_channels: int | None = None,
        value_channels: int | None = None,
        heads: int = 1,
        prenorm: bool = True,
        max_map_bytes: int = 4 * 2**30,
    ) -> None:
        super().__init__()
        key_channels = key_channels or channels
        value_channels = value_channels or channels
        check_divisible(key_channels, heads, "key_channels")
        check_divisible(value_channels, heads, "value_channels")
        self.heads = heads
        self.max_map_bytes = max_map_bytes
        self.norm = ChannelNorm() if prenorm else nn.Identity()
        self.to_queries = Pointwise(channels, key_channels)
        self.to_keys = Pointwise(channels, key_channels)
        self.to_values = Pointwise(channels, value_channels)
        self.out = ResidualProjection(value_channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        x_flat = x.reshape(b, c, -1)
        num_voxels = x_flat.shape[-1]
        needed = attention_map_bytes(b, self.heads, num_voxels)
        if needed > self.max_map_bytes:
            raise AttentionMapTooLarge(
                f"dot-product attention over {num_voxels:,} voxels needs {needed:,} bytes "
                f"({needed / 1e12:.3g} TB) for its attention map, above "
                f"max_map_bytes={self.max_map_bytes:,}; use a linear block (efficient, soft, polynl)"
            )
        normed = self.norm(x_flat)
        q, k, v = (
            split_heads(layer(normed), self.heads).mT
            for layer in (self.to_queries, self.to_keys, self.to_values)
        )
        mixed = F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype))  # (B, heads, N, d_v)
        out = VoxelOutput(x_flat, self.out.weight)
        out.write(slice(None), x_flat, mixed.mT.flatten(1, 2))
        return out.result().view_as(x)
