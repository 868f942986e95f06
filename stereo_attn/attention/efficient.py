"""Efficient attention (Shen et al., WACV 2021) over all voxels of a cost volume.

E(Q, K, V) = rho_q(Q) (rho_k(K)^T V): the (d_k x d_v) context matrix rho_k(K)^T V replaces the
N x N attention map, so time and memory are linear in N = D*H*W.

- ``softmax``: rho_k is a softmax over positions (each key channel becomes a global attention
  map), rho_q a softmax over the key channels of each head. Computed in one pass over voxel
  chunks with an online max, as in streaming softmax.
- ``scaling``: rho_q(Y) = rho_k(Y) = Y / sqrt(N); equals dot-product attention with scaling
  normalization, (Q K^T / N) V, exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stereo_attn.attention.common import (
    DEFAULT_CHUNK_VOXELS,
    ChannelNorm,
    Pointwise,
    ResidualProjection,
    VoxelOutput,
    check_divisible,
    core_dtype,
    drain,
    split_heads,
    voxel_chunks,
)

NORMALIZATIONS = ("softmax", "scaling")


class EfficientAttention3d(nn.Module):
    """Residual efficient-attention block, (B, C, D, H, W) -> (B, C, D, H, W)."""

    def __init__(
        self,
        channels: int,
        key_channels: int | None = None,
        value_channels: int | None = None,
        heads: int = 1,
        normalization: str = "softmax",
        prenorm: bool = True,
        chunk_voxels: int = DEFAULT_CHUNK_VOXELS,
    ) -> None:
        super().__init__()
        key_channels = key_channels or channels
        value_channels = value_channels or channels
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        key_per_head = check_divisible(key_channels, heads, "key_channels")
        check_divisible(value_channels, heads, "value_channels")
        if normalization == "softmax" and key_per_head < 2:
            # With one key channel per head the softmax over channels is constantly 1.
            raise ValueError(f"softmax normalization needs >= 2 key channels per head, got {key_per_head}")
        self.heads = heads
        self.key_channels = key_channels
        self.value_channels = value_channels
        self.normalization = normalization
        self.chunk_voxels = chunk_voxels
        self.norm = ChannelNorm() if prenorm else nn.Identity()
        self.to_queries = Pointwise(channels, key_channels)
        # No bias: under the softmax over positions a key bias cancels and a value bias only shifts
        # the output by a constant; dropping it saves a full pass per chunk.
        self.to_keys_values = Pointwise(channels, key_channels + value_channels, bias=False)
        self.out = ResidualProjection(value_channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        x_flat = x.reshape(b, c, -1)
        context, query_chunks = self._context(x_flat)
        with torch.autocast(x.device.type, enabled=False):
            # W_o blockdiag(context^T) per sample, (B, C, d_k): the output projection folded into the
            # context, so the output pass is one fused matmul on the normalized queries.
            out_weight = self.out.weight.to(context.dtype).unflatten(1, (self.heads, -1))
            weight = torch.einsum("chv,bhkv->bchk", out_weight, context).flatten(2)
            if self.normalization == "scaling":
                weight = weight / math.sqrt(x_flat.shape[-1])  # rho_q(Q) = Q / sqrt(N)
            out = VoxelOutput(x_flat, weight)
            for (voxels, x_chunk), queries in zip(
                voxel_chunks(x_flat, self.chunk_voxels), drain(query_chunks), strict=True
            ):
                if self.normalization == "softmax":
                    queries = queries.softmax(dim=2)  # rho_q: over the key channels of each head
                out.write(voxels, x_chunk, queries.flatten(1, 2))
        return out.result().view_as(x)

    def _context(self, x_flat: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """rho_k(K)^T V per head, (B, heads, d_k, d_v), accumulated over voxel chunks, and each
        chunk's queries (B, heads, d_k, n), kept so the norm and projections run once per voxel.

        Projections follow the ambient autocast; everything after them runs in fp32 (or fp64).
        """
        num_voxels = x_flat.shape[-1]
        dtype = core_dtype(x_flat.dtype)
        context = key_max = key_sum = None
        query_chunks = []
        for _, x_chunk in voxel_chunks(x_flat, self.chunk_voxels):
            normed = self.norm(x_chunk)
            query_chunks.append(split_heads(self.to_queries(normed), self.heads).to(dtype))
            keys_values = self.to_keys_values(normed).to(dtype)
            with torch.autocast(x_flat.device.type, enabled=False):
                keys, values = (
                    split_heads(t, self.heads)
                    for t in keys_values.split([self.key_channels, self.value_channels], 1)
                )
                if torch.onnx.is_in_onnx_export():
                    # The exported graph sums each volume in one pass, and ONNX Runtime's fp32 sums over
                    # hundreds of thousands of voxels drifted 30x further from torch than the rest of
                    # the network (8e-3 px at 640x384 against 3e-4 without attention): fp64 sums there.
                    keys, values = keys.double(), values.double()
                if self.normalization == "scaling":
                    # Divide before the sum: 1.5M summed products overflow in low precision.
                    part = torch.einsum("bhkn,bhvn->bhkv", keys / math.sqrt(num_voxels), values)
                    context = part if context is None else context + part
                    continue
                # The softmax is invariant to the shift, so the running max carries no gradient.
                chunk_max = keys.detach().amax(dim=-1, keepdim=True)
                new_max = chunk_max if key_max is None else torch.maximum(key_max, chunk_max)
                weights = (keys - new_max).exp_()
                part = torch.einsum("bhkn,bhvn->bhkv", weights, values)
                part_sum = weights.sum(dim=-1, keepdim=True)
                if context is None:
                    context, key_sum = part, part_sum
                else:
                    rescale = torch.exp(key_max - new_max)
                    context = context * rescale + part
                    key_sum = key_sum * rescale + part_sum
                key_max = new_max
        if self.normalization == "softmax":
            context = context / key_sum
        return context.to(dtype), query_chunks
