"""SOFT (Lu et al., NeurIPS 2021): softmax-free Gaussian-kernel attention with a Nystrom low rank.

S_ij = exp(-||q_i - q_j||^2 / (2 sqrt(d))), queries and keys sharing one projection, approximated as
K(Q, L) pinv(K(L, L)) K(L, Q) with m landmark tokens L. Landmarks are the projected mean features
of an adaptive (m_d, m_h, m_w) grid of regions, so every voxel belongs to some region whatever
D, H, W are. Products run right to left, K_nm (pinv (K_mn V)), at O(N m d).

``symmetric`` normalization applies D^-1/2 A D^-1/2 with degrees taken through the same Nystrom
form, d = K_nm pinv(K_mm) K_mn 1: outputs then do not grow with N (degrees from the landmark
kernel alone do), which matters when training crops are far smaller than test volumes.
``row`` normalization, D^-1 A with the same degrees, makes each output a weighted mean of values,
as softmax attention does; it needs no degree pass, so it computes the kernel twice instead of
three times.
Tokens are walked in chunks. At inference the N x m kernel is kept between the passes up to a memory
budget and recomputed beyond it; in training it is recomputed per pass and in the backward too
(activation checkpointing) instead of keeping 3 N m entries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

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
from stereo_attn.attention.pinv import INVERSE_METHODS, solve_landmarks

NORMALIZATIONS = ("symmetric", "row", "none")
# Every exact Gaussian-kernel degree is >= 1 (the self-similarity), so 1 is a safe floor for the
# Nystrom estimate, which can undershoot or turn negative.
MIN_DEGREE = 1.0
# Kernels kept between the passes at inference: all of them for a 544x960 image's volume at a 96 px
# range (D 24, m = 128: about 400 MB), two thirds at 192; the other chunks are formed again per pass.
DEFAULT_KERNEL_CACHE_MIB = 512
LOG2_E = math.log2(math.e)


def gaussian_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """exp(-||a_i - b_j||^2 / (2 sqrt(d))) for a: (.., d, m), b: (.., d, n) -> (.., m, n)."""
    centre = a.mean(dim=-1, keepdim=True)
    return kernel_from_factors(landmark_factor(a - centre), token_factor(b - centre))


# With c = 1 / (2 sqrt(d)), the exponent -c (|a|^2 + |b|^2 - 2 a.b) is one matmul of augmented
# vectors [2c a; -c |a|^2; 1] . [b; 1; -c |b|^2]: no pass over the m x n result besides the clamp
# and exponential. Factors are built once (landmarks per forward, tokens per chunk) in at least fp32.
# The expansion cancels for nearby points far from the origin, so both sides are centred on the
# landmarks' mean first (distances do not change) and the result is clamped at 0.
# The landmark factor carries a further log2(e), so the kernel is 2^(exponent log2 e): torch's CPU
# exp2 is about 4x faster than its exp, and the exponential was the block's largest single cost.


def landmark_factor(a: torch.Tensor) -> torch.Tensor:
    """(.., d, m) -> (.., m, d + 2), contiguous: a transposed left operand makes bmm ~1.6x slower."""
    a = a.to(core_dtype(a.dtype))
    c = 0.5 / math.sqrt(a.shape[-2])
    rows = [(2 * c) * a, -c * a.square().sum(dim=-2, keepdim=True), torch.ones_like(a[..., :1, :])]
    return (torch.cat(rows, dim=-2) * LOG2_E).mT.contiguous()


def token_factor(b: torch.Tensor) -> torch.Tensor:
    """(.., d, n) -> (.., d + 2, n)."""
    b = b.to(core_dtype(b.dtype))
    c = 0.5 / math.sqrt(b.shape[-2])
    return torch.cat([b, torch.ones_like(b[..., :1, :]), -c * b.square().sum(dim=-2, keepdim=True)], dim=-2)


def kernel_from_factors(
    landmarks: torch.Tensor, tokens: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """K(L, tokens): (.., m, n). ``out``: a contiguous buffer to reuse (autograd off only)."""
    with torch.autocast(tokens.device.type, enabled=False):
        if torch.is_grad_enabled() and (landmarks.requires_grad or tokens.requires_grad):
            return FactoredKernel.apply(landmarks, tokens)
        return torch.bmm(landmarks, tokens, out=out).clamp_max_(0).exp2_()


class FactoredKernel(torch.autograd.Function):
    """2^min(L T, 0) with a hand-written backward over the m x n kernel.

    Autograd's own graph of bmm, clamp and exp2 costs five passes over the m x n entries in the
    backward (a clone for the in-place clamp, its mask and select, two multiplies); this one costs
    one, a multiply by the kept kernel. The clamp's mask is left out: it only catches exponents
    pushed above 0 by rounding, at coincident points, where the exponent's gradient is 0 anyway.
    """

    @staticmethod
    def forward(ctx, landmarks: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        kernel = torch.bmm(landmarks, tokens).clamp_max_(0).exp2_()
        ctx.save_for_backward(landmarks, tokens, kernel)
        return kernel

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        landmarks, tokens, kernel = ctx.saved_tensors
        # d 2^z / dz = 2^z ln 2; ln 2 scales the small factor gradients instead of the m x n product.
        grad_exponent = grad * kernel
        grad_landmarks = grad_tokens = None
        if ctx.needs_input_grad[0]:
            grad_landmarks = torch.bmm(grad_exponent, tokens.mT).mul_(math.log(2))
        if ctx.needs_input_grad[1]:
            grad_tokens = torch.bmm(landmarks.mT, grad_exponent).mul_(math.log(2))
        return grad_landmarks, grad_tokens


class KernelPass:
    """Runs one step that forms a chunk's m x n kernel K(L, chunk) and reduces it at once.

    At inference the kernels of the first chunks are kept, up to ``cache_bytes``, so the later passes
    reuse them instead of forming them again (forming the kernel is the largest share of
    the block's time); the remaining chunks share one reused m x chunk buffer, since a fresh
    multi-megabyte tensor per chunk is page-faulted in each time, which made the kernel matmul 2.5x
    slower on CPU. While autograd records, each step runs under activation checkpointing, so the
    backward recomputes the kernel instead of keeping all three passes' N x m kernels (5 KB per voxel
    at m = 128); what stays is the step's inputs and its reduced output, as for efficient attention.
    """

    def __init__(self, landmarks: torch.Tensor, chunk_voxels: int, cache_bytes: int = 0) -> None:
        self.landmarks = landmarks
        batch, m, _ = landmarks.shape
        self.recompute = torch.is_grad_enabled()
        # A traced graph (torch.compile, ONNX export) gets plain results: writes into views of one
        # buffer would become scatters of a size the trace fixed, and a budget test on a symbolic size
        # would fix the size too.
        reuse = not self.recompute and not torch.compiler.is_compiling()
        self.storage = landmarks.new_empty(batch * m * chunk_voxels) if reuse else None
        self.cache: dict[int, torch.Tensor] = {}
        self.cache_left = cache_bytes if reuse else 0

    def __call__(
        self, step: Callable[..., torch.Tensor], chunk: int, tokens: torch.Tensor, *args, last: bool = False
    ) -> torch.Tensor:
        """step(kernel, *args) for the kernel of chunk number ``chunk``; ``last``: its final use."""
        if self.recompute:
            # No randomness inside, so no RNG state to save and restore.
            options = {"use_reentrant": False, "preserve_rng_state": False}
            return checkpoint(_kernel_step, step, self.landmarks, tokens, *args, **options)
        kernel = self.cache.pop(chunk, None) if last else self.cache.get(chunk)
        if kernel is None:
            kernel = kernel_from_factors(self.landmarks, tokens, out=self._slot(chunk, tokens, last))
        with torch.autocast(tokens.device.type, enabled=False):
            return step(kernel, *args)

    def _slot(self, chunk: int, tokens: torch.Tensor, last: bool) -> torch.Tensor | None:
        """Where this chunk's kernel goes: a kept tensor while the budget lasts, else the shared buffer."""
        batch, m, _ = self.landmarks.shape
        n = tokens.shape[-1]
        size = batch * m * n * self.landmarks.element_size()
        if not last and size <= self.cache_left:
            self.cache_left -= size
            self.cache[chunk] = self.landmarks.new_empty(batch, m, n)
            return self.cache[chunk]
        if self.storage is None:
            return None
        # A prefix view stays contiguous for the last, shorter chunk; a slice would not.
        return self.storage[: batch * m * n].view(batch, m, n)


def _kernel_step(
    step: Callable[..., torch.Tensor], landmarks: torch.Tensor, tokens: torch.Tensor, *args
) -> torch.Tensor:
    with torch.autocast(tokens.device.type, enabled=False):
        return step(kernel_from_factors(landmarks, tokens), *args)


# The three passes over the chunks, each given K_mn of one chunk: (B*heads, m, n).


def _column_sums(kernel: torch.Tensor) -> torch.Tensor:
    """K_mn 1: (B*heads, m, 1)."""
    return kernel.sum(dim=-1, keepdim=True)


def _summary(kernel: torch.Tensor, values: torch.Tensor, degree_weights: torch.Tensor | None) -> torch.Tensor:
    """K_mn V (values weighted by each voxel's d^-1/2 when degrees are given): (B*heads, m, d_v)."""
    if degree_weights is not None:
        values = values * degree_power(degree_weights.mT @ kernel, -0.5)
    return kernel @ values.mT


def _mixed(kernel: torch.Tensor, mixing: torch.Tensor, power: float | None) -> torch.Tensor:
    """mixing^T K_mn, the last row turned into each voxel's degree^power if normalized: (B*heads, d_v, n)."""
    mixed = mixing.mT @ kernel
    if power is None:
        return mixed
    return mixed[:, :-1] * degree_power(mixed[:, -1:], power)


def adaptive_average(x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """F.adaptive_avg_pool3d(x, grid), done as three small matmuls with interval-mean matrices.

    Adaptive regions are products of 1-D intervals, so pooling is separable. Reducing W first with a
    (grid_w, W) averaging matrix reads the volume once in its own memory layout; the pooling kernel
    itself is 3-4x slower on a channels-last volume. H and D are then reduced on the 1/W-sized result
    the same way, which also keeps the block exportable with dynamic sizes (ONNX has no adaptive
    pooling to a fixed grid).
    """
    b, c, d, h, w = x.shape
    with torch.autocast(x.device.type, enabled=False):
        weights = interval_means(w, grid[2], x)
        if x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous():
            rows = x.permute(0, 2, 3, 4, 1).reshape(b * d * h, w, c)  # a view: the memory order
            pooled_w = torch.matmul(weights, rows).view(b, d, h, grid[2], c).permute(0, 4, 1, 2, 3)
        else:
            pooled_w = torch.matmul(x, weights.mT)  # (b, c, d, h, grid_w)
        pooled_h = torch.matmul(interval_means(h, grid[1], x), pooled_w)  # (b, c, d, grid_h, grid_w)
        pooled = torch.matmul(interval_means(d, grid[0], x), pooled_h.flatten(3))
        return pooled.view(b, c, grid[0], grid[1], grid[2])


def interval_means(length: int, size: int, like: torch.Tensor) -> torch.Tensor:
    """(size, length) matrix averaging adaptive pooling's intervals [floor(i L / s), ceil((i + 1) L / s))."""
    index = torch.arange(size)
    starts = (index * length) // size
    ends = -((-(index + 1) * length) // size)
    positions = torch.arange(length)
    inside = (positions >= starts[:, None]) & (positions < ends[:, None])
    weights = inside / (ends - starts)[:, None]
    return weights.to(device=like.device, dtype=like.dtype)


def degree_power(degrees: torch.Tensor, power: float) -> torch.Tensor:
    """d^-1/2 (symmetric) or d^-1 (row) of Nystrom degrees, floored at MIN_DEGREE."""
    floored = degrees.clamp_min(MIN_DEGREE)
    return floored.rsqrt() if power == -0.5 else floored.pow(power)


class SoftAttention3d(nn.Module):
    """Residual SOFT block, (B, C, D, H, W) -> (B, C, D, H, W)."""

    def __init__(
        self,
        channels: int,
        key_channels: int | None = None,
        value_channels: int | None = None,
        heads: int = 1,
        landmarks: Sequence[int] = (4, 4, 8),
        normalization: str = "symmetric",
        inverse: str = "solve",
        newton_iterations: int = 20,
        eps: float = 1e-4,
        prenorm: bool = True,
        chunk_voxels: int = DEFAULT_CHUNK_VOXELS,
        kernel_cache_mib: float = DEFAULT_KERNEL_CACHE_MIB,
    ) -> None:
        super().__init__()
        # Half width by default: the N*m*d_k kernel matmul dominates the cost, and the Gaussian
        # kernel needs only a small embedding to compare voxels.
        key_channels = key_channels or max(channels // 2 // heads, 1) * heads
        value_channels = value_channels or channels
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if inverse not in INVERSE_METHODS:
            raise ValueError(f"inverse must be one of {INVERSE_METHODS}, got {inverse!r}")
        if kernel_cache_mib < 0:
            raise ValueError(f"kernel_cache_mib must be >= 0, got {kernel_cache_mib}")
        if len(landmarks) != 3 or min(landmarks) < 1:
            raise ValueError(f"landmarks must be a (D, H, W) grid of positive sizes, got {list(landmarks)}")
        check_divisible(key_channels, heads, "key_channels")
        check_divisible(value_channels, heads, "value_channels")
        self.heads = heads
        self.landmarks = tuple(int(g) for g in landmarks)
        self.normalization = normalization
        self.inverse = inverse
        self.newton_iterations = newton_iterations
        self.eps = eps
        self.chunk_voxels = chunk_voxels
        self.kernel_cache_bytes = int(kernel_cache_mib * 2**20)
        self.norm = ChannelNorm() if prenorm else nn.Identity()
        # Shared by queries and keys; no bias, which would cancel in every distance.
        self.to_queries = Pointwise(channels, key_channels, bias=False)
        self.to_values = Pointwise(channels, value_channels)
        self.out = ResidualProjection(value_channels, channels)

    def inference_cache_bytes(self, voxels: int) -> int:
        """Upper bound of the fp32 kernels kept at inference for ``voxels`` voxels (batch included)."""
        return min(self.kernel_cache_bytes, voxels * math.prod(self.landmarks) * self.heads * 4)

    def landmark_grid(self, depth: int, height: int, width: int) -> tuple[int, int, int]:
        """The configured grid, capped by the volume so small volumes get no duplicate landmarks."""
        return tuple(min(g, s) for g, s in zip(self.landmarks, (depth, height, width), strict=True))

    def landmark_queries(self, x: torch.Tensor) -> torch.Tensor:
        """Projected, normalized mean features of the grid's regions: (B*heads, d_k, m).

        Adaptive pooling regions cover every voxel (they overlap where sizes do not divide).
        """
        pooled = adaptive_average(x, self.landmark_grid(*x.shape[2:]))
        return self._heads(self.to_queries, self.norm(pooled.flatten(2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        x_flat = x.reshape(b, c, -1)
        landmark_queries = self.landmark_queries(x)  # (B*heads, d_k, m)
        landmark_kernel = gaussian_kernel(landmark_queries, landmark_queries)
        centre = landmark_queries.mean(dim=-1, keepdim=True)
        # chunk_voxels counts the voxels of all samples and heads together: a chunk's kernel is
        # (B*heads, m, n), and at batch 4 a per-sample count made 32 MiB kernels, which glibc always
        # maps fresh (page faults on every chunk): the block's training step was 1.3-1.8x slower.
        chunk = max(self.chunk_voxels // (b * self.heads), 1)
        kernel_pass = KernelPass(landmark_factor(landmark_queries - centre), chunk, self.kernel_cache_bytes)

        def solve(rhs: torch.Tensor) -> torch.Tensor:
            return solve_landmarks(landmark_kernel, rhs, self.inverse, self.newton_iterations, self.eps)

        chunks = list(voxel_chunks(x_flat, chunk))
        # Queries are kept across the passes so each voxel is normalized and projected once.
        query_chunks = [
            token_factor(self._heads(self.to_queries, self.norm(x_chunk)) - centre) for _, x_chunk in chunks
        ]

        degree_weights = None
        if self.normalization == "symmetric":
            column_sums = sum(kernel_pass(_column_sums, i, queries) for i, queries in enumerate(query_chunks))
            degree_weights = solve(column_sums)  # pinv(K_mm) K_mn 1, (B*heads, m, 1)

        summary = 0
        for i, ((_, x_chunk), queries) in enumerate(zip(chunks, query_chunks, strict=True)):
            values = self._heads(self.to_values, self.norm(x_chunk))
            if self.normalization == "row":
                # A row of ones makes the same product return K_mn 1, the degrees' numerator.
                values = torch.cat([values, torch.ones_like(values[:, :1])], dim=1)
            summary = summary + kernel_pass(_summary, i, queries, values, degree_weights)
        mixing = solve(summary)  # pinv(K_mm) K_mn V [| pinv(K_mm) K_mn 1], (B*heads, m, d_v [+ 1])
        if degree_weights is not None:
            mixing = torch.cat([mixing, degree_weights], dim=-1)
        # Either way the last column of `mixing` turns into each voxel's Nystrom degree below.
        power = {"symmetric": -0.5, "row": -1.0}.get(self.normalization)

        with torch.autocast(x.device.type, enabled=False):
            out = VoxelOutput(x_flat, self.out.weight)
            for i, ((voxels, x_chunk), queries) in enumerate(zip(chunks, drain(query_chunks), strict=True)):
                mixed = kernel_pass(_mixed, i, queries, mixing, power, last=True)  # (B*heads, d_v, n)
                out.write(voxels, x_chunk, mixed.reshape(b, -1, mixed.shape[-1]))
        return out.result().view_as(x)

    def _heads(self, projection: Pointwise, normed: torch.Tensor) -> torch.Tensor:
        """Project (B, C, n) under the ambient autocast and batch the heads: (B*heads, d, n) in fp32 or fp64.

        Everything after the projections runs in full precision: the landmark inverse has large
        entries of both signs, which bf16 rounding would make cancel.
        """
        projected = split_heads(projection(normed), self.heads).flatten(0, 1)
        return projected.to(core_dtype(normed.dtype))
