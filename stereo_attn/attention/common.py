"""Pieces shared by the attention blocks: voxel chunking, per-voxel norm and projections.

Every block sees the cost volume as N = D*H*W tokens of C channels, flattened to (B, C, N).
Blocks walk the tokens in chunks so that inference needs one to three copies of the input (the
output buffer, and per-chunk queries or features cached between passes) instead of a full-size
intermediate for every step.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def core_dtype(dtype: torch.dtype) -> torch.dtype:
    """Precision of the mixing arithmetic: fp64 stays fp64 (gradcheck), everything else runs in fp32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# Chunks of ~16k voxels keep a chunk's (C, n) tensors in cache on CPUs; larger ones measured slower.
DEFAULT_CHUNK_VOXELS = 16384


def voxel_chunks(x_flat: torch.Tensor, chunk_voxels: int) -> Iterator[tuple[slice, torch.Tensor]]:
    """(slice, chunk view) pairs covering the voxels of a (B, C, N) tensor.

    Views, not copies: the first op on a chunk (a norm or a baddbmm) reads the row stride directly.
    One split rather than one slice per chunk: a slice's backward builds a gradient the size of the
    whole volume, once per chunk; split's backward concatenates all chunk gradients once.
    """
    if chunk_voxels < 1:
        raise ValueError(f"chunk_voxels must be >= 1, got {chunk_voxels}")
    starts = range(0, x_flat.shape[-1], chunk_voxels)
    for start, chunk in zip(starts, x_flat.split(chunk_voxels, dim=-1), strict=True):
        yield slice(start, start + chunk.shape[-1]), chunk


def drain(cache: list) -> Iterator:
    """Yield a first pass's per-chunk results and drop each from the cache, so memory is released
    while the output pass fills in."""
    for index in range(len(cache)):
        item, cache[index] = cache[index], None
        yield item


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, heads*d, n) -> (B, heads, d, n); a view, so heads are batched rather than looped."""
    b, c, n = x.shape
    return x.view(b, heads, c // heads, n)


def check_divisible(channels: int, heads: int, what: str) -> int:
    if channels % heads:
        raise ValueError(f"{what}={channels} is not divisible by heads={heads}")
    return channels // heads


class Pointwise(nn.Linear):
    """1x1x1 convolution on flattened voxels: (B, C_in, n) -> (B, C_out, n)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_autocast_enabled(x.device.type):
            x = x.to(self.weight.dtype)  # the fp32 core may feed a bf16/fp64 module
        weight = self.weight.expand(x.shape[0], -1, -1)
        if self.bias is None:
            return torch.bmm(weight, x)
        # baddbmm writes a dense (B, C_out, n) with the bias fused; torch.matmul(W, x) returns
        # a transposed result that every later op has to copy.
        return torch.baddbmm(self.bias[None, :, None], weight, x)


class ChannelNorm(nn.Module):
    """Normalization over channels at each voxel of a (B, C, n) tensor, in fp32 or fp64.

    Per-voxel statistics keep the blocks equivariant to voxel order and independent of N. It has no
    affine parameters: every use is followed by a learned projection, which absorbs them.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``out``: where to write the result (autograd off only), e.g. a slice of a larger buffer."""
        x = x.to(core_dtype(x.dtype))
        if out is None and x.stride(1) == 1:
            # Channels innermost (chunks of a channels-last volume): layer_norm over the (B, n, C) view
            # is one pass, 2.7x faster than the steps below there; on a channel-major chunk it is slower.
            return F.layer_norm(x.mT, x.shape[1:2], eps=self.eps).mT
        centred = torch.sub(x, x.mean(dim=1, keepdim=True), out=out)
        # Tensor.var and vector_norm over a non-innermost dim are several times slower on CPU.
        scale = torch.rsqrt(centred.square().mean(dim=1, keepdim=True) + self.eps)
        # In place when autograd does not track it: a fresh buffer per chunk doubles the norm's time.
        return centred * scale if centred.requires_grad else centred.mul_(scale)


class ResidualProjection(nn.Module):
    """The block's output projection W, applied as x + W y; W starts at zero, so a new block is the identity.

    No bias: it would only shift the volume, which the surrounding convolutions already can.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels))


class VoxelOutput:
    """Assembles x + W y, chunk by chunk along the voxel axis of a (B, C, N) volume.

    At inference each chunk is computed in place in one preallocated buffer (copy, then baddbmm_),
    which saves a full pass and keeps memory near one copy of the volume. While autograd records,
    chunks are kept and joined once: in-place writes into slices of one tensor would make the
    backward clone the whole gradient once per chunk, quadratic in N. Both stay outside autocast so
    the residual stream keeps the input's precision.
    """

    def __init__(self, x_flat: torch.Tensor, weight: torch.Tensor) -> None:
        """``weight``: (C_out, C_in), or (B, C_out, C_in) when it depends on the sample."""
        self.weight = weight
        self.in_place = not torch.is_grad_enabled()
        self.buffer = torch.empty_like(x_flat) if self.in_place else None
        self.chunks: list[torch.Tensor] = []

    def write(self, voxels: slice, x: torch.Tensor, y: torch.Tensor) -> None:
        dtype = x.dtype
        with torch.autocast(y.device.type, enabled=False):
            weight = self.weight.to(dtype).expand(y.shape[0], -1, -1)
            if self.in_place and dtype in (torch.float32, torch.float64):
                target = self.buffer[:, :, voxels]
                target.copy_(x)
                target.baddbmm_(weight, y.to(dtype))
            elif self.in_place:
                # CPU bf16/fp16 baddbmm_ into a strided (channels-last) slice takes a slow path: 30x
                # the time of writing a dense result and copying it in.
                self.buffer[:, :, voxels] = torch.baddbmm(x, weight, y.to(dtype))
            else:
                self.chunks.append(torch.baddbmm(x, weight, y.to(dtype)))

    def result(self) -> torch.Tensor:
        return self.buffer if self.in_place else torch.cat(self.chunks, dim=-1)
