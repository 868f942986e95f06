"""Properties every attention block shares: the residual interface, gradients, chunking, precision, cost."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from stereo_attn.attention import (
    ATTENTION_BLOCKS,
    AttentionMapTooLarge,
    attention_map_bytes,
    build_attention,
    reference,
)
from stereo_attn.attention.common import ChannelNorm

from helpers.blocks import random_block

BLOCKS = sorted(ATTENTION_BLOCKS)
LINEAR = ["efficient", "soft", "polynl"]
# SOFT's landmarks are region means, so voxel order matters to it unless a single region is used.
ORDER_FREE = {"soft": {"landmarks": (1, 1, 1)}}


@pytest.mark.parametrize("name", BLOCKS)
def test_new_block_is_the_identity_even_under_autocast(name: str) -> None:
    x = torch.randn(2, 8, 3, 4, 5) * 100
    block = build_attention(name, 8)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(block(x), x, rtol=0, atol=0)  # the residual never passes through bf16


@pytest.mark.parametrize("requires_grad", [False, True])  # in-place and autograd-safe branches
@pytest.mark.parametrize("channels_innermost", [False, True])  # the two layouts take different paths
def test_channel_norm_matches_explicit_statistics(requires_grad: bool, channels_innermost: bool) -> None:
    x = torch.randn(2, 8, 50, dtype=torch.float64) * 5 + 3
    if channels_innermost:
        x = x.mT.contiguous().mT
    mean = x.sum(dim=1, keepdim=True) / 8
    variance = ((x - mean) ** 2).sum(dim=1, keepdim=True) / 8
    expected = (x - mean) / torch.sqrt(variance + 1e-5)
    x.requires_grad_(requires_grad)
    normed = ChannelNorm()(x[:, :, 5:40])
    torch.testing.assert_close(normed, expected[:, :, 5:40])
    if requires_grad:
        assert torch.autograd.gradcheck(ChannelNorm(), (x[:, :, 5:40],))


GRADCHECK_CASES = [
    ("efficient", {"heads": 2}),
    ("efficient", {"heads": 2, "normalization": "scaling", "value_channels": 8}),
    ("soft", {"heads": 2, "landmarks": (1, 2, 2)}),  # pooled landmarks: m = 4 < N = 18
    ("soft", {"landmarks": (2, 2, 1), "normalization": "none"}),
    ("soft", {"landmarks": (2, 1, 2), "normalization": "row"}),
    ("soft", {"landmarks": (1, 2, 2), "inverse": "newton", "newton_iterations": 60}),
    ("polynl", {}),
    ("dot_product", {"heads": 2}),
]


@pytest.mark.parametrize(("name", "options"), GRADCHECK_CASES)
def test_gradcheck_on_a_tiny_volume(name: str, options: dict) -> None:
    x = torch.randn(2, 4, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    if name != "dot_product":
        options = {**options, "chunk_voxels": 5}
    block = random_block(name, 4, **options)
    assert torch.autograd.gradcheck(block, (x,))


@pytest.mark.parametrize("name", LINEAR)
def test_chunking_does_not_change_the_result(name: str) -> None:
    x = torch.randn(2, 8, 3, 5, 7, dtype=torch.float64)
    chunked = random_block(name, 8, chunk_voxels=11)
    whole = random_block(name, 8, chunk_voxels=1000)
    whole.load_state_dict(chunked.state_dict())
    torch.testing.assert_close(chunked(x), whole(x))


@pytest.mark.parametrize("name", BLOCKS)
@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_inference_paths_match_the_autograd_path(name: str, mode: type) -> None:
    # Without autograd the blocks write in place (output buffer, norm scaling, Poly-NL's store).
    x = torch.randn(2, 8, 3, 5, 7, dtype=torch.float64)
    block = random_block(name, 8, **({} if name == "dot_product" else {"chunk_voxels": 11}))
    expected = block(x)
    assert expected.requires_grad
    with mode():
        actual = block(x)
    torch.testing.assert_close(actual, expected.detach())


@pytest.mark.parametrize("name", ["efficient", "soft", "polynl"])
def test_bf16_channels_last_inference_matches_the_autograd_path(name: str) -> None:
    # The network feeds bf16 channels-last volumes under autocast; the in-place output path differs.
    x = torch.randn(1, 8, 3, 5, 7).to(torch.bfloat16).contiguous(memory_format=torch.channels_last_3d)
    block = random_block(name, 8, dtype=torch.float32, chunk_voxels=11)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = block(x)
        with torch.no_grad():
            actual = block(x)
    assert actual.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(actual, expected.detach())


@pytest.mark.parametrize("name", BLOCKS)
def test_permuting_voxels_permutes_the_output(name: str) -> None:
    x = torch.randn(1, 8, 3, 4, 5, dtype=torch.float64)
    block = random_block(name, 8, **ORDER_FREE.get(name, {}))
    order = torch.randperm(60)
    permuted = x.flatten(2)[:, :, order].view_as(x)
    expected = block(x).flatten(2)[:, :, order].view_as(x)
    torch.testing.assert_close(block(permuted), expected)


@pytest.mark.parametrize("name", BLOCKS)
def test_bf16_autocast_stays_finite_and_close_to_fp32(name: str) -> None:
    # Cost-volume-like input: positive offset, mixed scales, a few large correlations.
    x = torch.randn(1, 16, 8, 17, 30) * torch.linspace(0.5, 20, 16).view(1, 16, 1, 1, 1) + 5
    block = random_block(name, 16, dtype=torch.float32, std=0.2)
    reference = block(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed_precision = block(x)
    assert torch.isfinite(mixed_precision).all()
    assert mixed_precision.dtype == x.dtype  # the residual stream keeps the input's precision
    error = (mixed_precision - reference).norm() / (reference - x).norm()
    assert error < 0.05


def retained_bytes(name: str, size: tuple[int, int, int]) -> int:
    """Bytes still allocated once a forward returns: the output and all the backward will use.

    Measured by the allocator (the profiler's memory events) rather than by saved-tensor hooks,
    which miss what activation checkpointing holds for its recomputation.
    """
    block = random_block(name, 8, dtype=torch.float32)
    x = torch.randn(1, 8, *size, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        output = block(x)
    del output
    return sum(event.self_cpu_memory_usage for event in profiler.events())


VOXELS = 4 * 32 * 32


def retained_by_size(name: str) -> tuple[int, int, int]:
    """Retained bytes for volumes of N, 2N and 4N voxels."""
    return tuple(retained_bytes(name, (4 * k, 32, 32)) for k in (1, 2, 4))


@pytest.mark.parametrize("name", LINEAR)
def test_memory_kept_for_backward_grows_linearly_with_voxels(name: str) -> None:
    # Affine, not proportional: a block also keeps a size-independent part (landmarks, contexts).
    small, medium, large = retained_by_size(name)
    assert large - medium == pytest.approx(2 * (medium - small), rel=0.05)


def bytes_per_voxel(name: str) -> float:
    _, medium, large = retained_by_size(name)
    return (large - medium) / (2 * VOXELS)


def test_soft_keeps_at_most_twice_what_efficient_attention_keeps_per_voxel() -> None:
    # Kept N x m kernels (m = 128 landmarks, three passes) cost SOFT 3.4 KB per voxel; the backward
    # recomputes them instead.
    assert bytes_per_voxel("soft") <= 2 * bytes_per_voxel("efficient")


class BytesWritten(TorchDispatchMode):
    """Counts the bytes every op writes: a machine-independent measure of work."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns):
            return out  # a view writes nothing
        for tensor in pytree.tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self.total += tensor.numel() * tensor.element_size()
        return out


def training_step_bytes(name: str, size: tuple[int, int, int]) -> int:
    block = random_block(name, 8, dtype=torch.float32, chunk_voxels=256)
    x = torch.randn(1, 8, *size, requires_grad=True)
    with BytesWritten() as counter:
        block(x).sum().backward()
    return counter.total


@pytest.mark.parametrize("name", LINEAR)
def test_training_step_work_grows_linearly_with_voxels(name: str) -> None:
    # Catches backward passes that touch the whole volume once per chunk (e.g. in-place writes
    # into slices of one output, whose backward clones the full gradient per chunk).
    # Both sizes hold the full 4x4x8 SOFT landmark grid, so only N changes.
    ratio = training_step_bytes(name, (16, 32, 32)) / training_step_bytes(name, (4, 16, 16))
    assert ratio < 17.5  # 16x the voxels


def test_quadratic_reference_saves_quadratic_memory() -> None:
    # The yardstick for the test above: the same measurement sees the N x N map.
    ratio = retained_bytes("dot_product", (4, 8, 8)) / retained_bytes("dot_product", (4, 8, 4))
    assert ratio > 3


def test_dot_product_equals_explicit_softmax_attention() -> None:
    x = torch.randn(2, 8, 2, 3, 4, dtype=torch.float64)
    block = random_block("dot_product", 8, heads=2)
    normed = block.norm(x.flatten(2))
    q, k, v = (
        layer(normed).unflatten(1, (2, 4)) for layer in (block.to_queries, block.to_keys, block.to_values)
    )
    expected = reference.residual(x, block.out.weight, reference.softmax_attention(q, k, v).flatten(1, 2))
    torch.testing.assert_close(block(x), expected)


def test_dot_product_refuses_volumes_above_its_budget_and_says_how_many_bytes() -> None:
    block = build_attention("dot_product", 4, max_map_bytes=1_000_000)
    x = torch.randn(1, 4, 4, 10, 15)  # N = 600: 600^2 * 4 bytes = 1,440,000
    with pytest.raises(AttentionMapTooLarge, match="needs 1,440,000 bytes"):
        block(x)


def test_full_quarter_resolution_scene_flow_map_needs_about_ten_terabytes() -> None:
    assert attention_map_bytes(1, 1, 48 * 136 * 240) == pytest.approx(9.8e12, rel=0.01)


def test_polynl_equals_its_direct_formula() -> None:
    # The block rearranges Poly-NL into GEMMs; here it is computed as written in the paper.
    x = torch.randn(2, 6, 3, 4, 5, dtype=torch.float64)
    block = random_block("polynl", 6, chunk_voxels=13)
    normed = block.norm(x.flatten(2))
    expected = reference.residual(x, block.w3.weight, reference.polynl(normed, block.w1, block.w2))
    torch.testing.assert_close(block(x), expected)


def test_registry_builds_every_block_and_none() -> None:
    for name in [*BLOCKS, "none"]:
        assert build_attention(name, 8)(torch.ones(1, 8, 2, 2, 2)).shape == (1, 8, 2, 2, 2)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("flash", {}, "unknown attention block 'flash'"),
        ("soft", {"landmark": 3}, "attention 'soft'.*landmark"),
        ("none", {"heads": 2}, "takes no options"),
        ("efficient", {"heads": 3}, "not divisible by heads=3"),
    ],
)
def test_bad_configurations_give_clear_errors(name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_attention(name, 8, **options)
