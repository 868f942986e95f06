"""Efficient attention against explicit matrix computations."""

from __future__ import annotations

import pytest
import torch

from stereo_attn.attention import EfficientAttention3d, reference

from helpers.blocks import random_block


def explicit_qkv(block: EfficientAttention3d, x: torch.Tensor):
    """Full (B, heads, d, N) queries, keys and values computed without chunks."""
    b, c = x.shape[:2]
    normed = block.norm(x.reshape(b, c, -1))
    keys, values = block.to_keys_values(normed).split([block.key_channels, block.value_channels], dim=1)
    return (t.unflatten(1, (block.heads, -1)) for t in (block.to_queries(normed), keys, values))


def finish(block: EfficientAttention3d, x: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    """x + W_o mixed, with mixed given as (B, heads, d_v, N)."""
    return reference.residual(x, block.out.weight, mixed.flatten(1, 2))


@pytest.mark.parametrize("heads", [1, 2])
def test_scaling_normalization_equals_dot_product_attention_with_scaling(heads: int) -> None:
    x = torch.randn(2, 8, 3, 5, 7, dtype=torch.float64)
    block = random_block("efficient", 8, heads=heads, normalization="scaling", chunk_voxels=16)
    expected = finish(block, x, reference.scaling_attention(*explicit_qkv(block, x)))
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("chunk_voxels", [7, 10_000])
@pytest.mark.parametrize(("key_channels", "value_channels"), [(8, 8), (4, 12), (12, 4)])
def test_softmax_normalization_equals_explicit_formula(
    chunk_voxels: int, key_channels: int, value_channels: int
) -> None:
    # Large keys make the running max change between chunks, which the online softmax must handle.
    x = torch.randn(2, 8, 4, 5, 6, dtype=torch.float64) * 3
    block = random_block(
        "efficient",
        8,
        heads=2,
        key_channels=key_channels,
        value_channels=value_channels,
        chunk_voxels=chunk_voxels,
    )
    with torch.no_grad():
        block.to_keys_values.weight.mul_(20)
    expected = finish(block, x, reference.efficient_softmax_attention(*explicit_qkv(block, x)))
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-10)


def test_softmax_rows_sum_to_one_so_constant_values_pass_unchanged() -> None:
    x = torch.randn(1, 6, 3, 4, 5, dtype=torch.float64)
    block = random_block("efficient", 6, heads=2, chunk_voxels=9, prenorm=False)
    with torch.no_grad():
        block.to_keys_values.weight[6:] = 0.0
        block.to_keys_values.weight[6:, 0] = 1.0  # every value channel = input channel 0
        block.out.weight.copy_(torch.eye(6))
    x[:, 0] = 2.5  # ... which is the same constant at every voxel
    torch.testing.assert_close(block(x) - x, torch.full_like(x, 2.5), rtol=0, atol=1e-12)


def test_one_key_channel_per_head_is_rejected_for_softmax() -> None:
    with pytest.raises(ValueError, match="key channels per head"):
        EfficientAttention3d(8, key_channels=4, heads=4)


def test_bf16_autocast_rounds_only_the_projections() -> None:
    # Under autocast the projections run in bf16; the context and the softmaxes must stay in fp32,
    # so the output equals the fp32 formula applied to bf16-rounded projections.
    x = torch.randn(1, 8, 4, 6, 8) * 4
    block = random_block("efficient", 8, dtype=torch.float32, heads=2, chunk_voxels=50)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q, k, v = (t.float() for t in explicit_qkv(block, x))
        actual = block(x)
    expected = finish(block, x, reference.efficient_softmax_attention(q, k, v))
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
