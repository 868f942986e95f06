"""SOFT: Gaussian kernel, Newton-Raphson inverse, Nystrom exactness and normalization."""

from __future__ import annotations

import pytest
import torch

from stereo_attn.attention import (
    NewtonInverse,
    SoftAttention3d,
    build_attention,
    gaussian_kernel,
    newton_iterations,
    reference,
    soft,
)
from stereo_attn.attention.pinv import solve_landmarks
from stereo_attn.attention.soft import adaptive_average, kernel_from_factors, landmark_factor, token_factor

from helpers.blocks import random_block


def spd_matrix(size: int, condition: float, batch: int = 2) -> torch.Tensor:
    """Symmetric positive definite matrices with eigenvalues spread geometrically over [1/cond, 1]."""
    basis, _ = torch.linalg.qr(torch.randn(batch, size, size, dtype=torch.float64))
    eigenvalues = torch.logspace(0, -torch.log10(torch.tensor(condition)).item(), size, dtype=torch.float64)
    return basis @ torch.diag_embed(eigenvalues.expand(batch, size)) @ basis.mT


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    ("size", "grid"), [((8, 12, 16), (4, 4, 8)), ((7, 13, 11), (3, 4, 5)), ((2, 3, 5), (2, 3, 5))]
)
def test_adaptive_average_matches_adaptive_pooling(
    channels_last: bool, size: tuple[int, int, int], grid: tuple[int, int, int]
) -> None:
    x = torch.randn(2, 3, *size, dtype=torch.float64, requires_grad=True)
    layout = torch.channels_last_3d if channels_last else torch.contiguous_format
    pooled = adaptive_average(x.contiguous(memory_format=layout), grid)
    expected = torch.nn.functional.adaptive_avg_pool3d(x, grid)
    torch.testing.assert_close(pooled, expected)
    weights = torch.randn_like(expected)
    (gradient,) = torch.autograd.grad((pooled * weights).sum(), x)
    (expected_gradient,) = torch.autograd.grad((expected * weights).sum(), x)
    torch.testing.assert_close(gradient, expected_gradient)


def test_gaussian_kernel_matches_explicit_distances() -> None:
    a = torch.randn(3, 6, 5, dtype=torch.float64)
    b = torch.randn(3, 6, 9, dtype=torch.float64)
    torch.testing.assert_close(gaussian_kernel(a, b), reference.gaussian_kernel(a, b))


def test_gaussian_kernel_is_symmetric_in_unit_interval_with_unit_diagonal() -> None:
    # Large, nearby points in fp32: without centring, the expanded distance cancels.
    points = 100 + 1e-3 * torch.randn(2, 16, 40)
    kernel = gaussian_kernel(points, points)
    assert kernel.dtype == torch.float32
    assert (kernel > 0).all() and (kernel <= 1).all()
    torch.testing.assert_close(kernel, kernel.mT)
    torch.testing.assert_close(torch.diagonal(kernel, dim1=-2, dim2=-1), torch.ones(2, 40))


def test_uncentred_expansion_is_clamped_to_at_most_one() -> None:
    points = 100 + 1e-3 * torch.randn(2, 16, 40)
    kernel = kernel_from_factors(landmark_factor(points), token_factor(points))
    assert (kernel <= 1).all()


@pytest.mark.parametrize(("condition", "iterations"), [(10.0, 20), (100.0, 30)])
def test_newton_raphson_matches_pinv_on_well_conditioned_spd(condition: float, iterations: int) -> None:
    matrix = spd_matrix(16, condition)
    torch.testing.assert_close(newton_iterations(matrix, iterations), torch.linalg.pinv(matrix))


def test_newton_raphson_fails_on_ill_conditioned_matrices_where_solve_is_exact() -> None:
    # Why the direct solve is the default: 20 iterations do not converge at condition 1e4.
    matrix = spd_matrix(16, 1e4)
    rhs = torch.randn(2, 16, 3, dtype=torch.float64)
    exact = torch.linalg.solve(matrix, rhs)
    newton = solve_landmarks(matrix, rhs, method="newton", iterations=20, eps=0)
    solved = solve_landmarks(matrix, rhs, method="solve", eps=0)
    assert (newton - exact).norm() / exact.norm() > 0.1
    torch.testing.assert_close(solved, exact)


def test_newton_backward_is_the_exact_inverse_gradient() -> None:
    matrix = spd_matrix(6, 5.0).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda m: NewtonInverse.apply(m, 40), (matrix,))
    weights = torch.randn(2, 6, 6, dtype=torch.float64)
    (newton_grad,) = torch.autograd.grad((NewtonInverse.apply(matrix, 40) * weights).sum(), matrix)
    (exact_grad,) = torch.autograd.grad((torch.linalg.inv(matrix) * weights).sum(), matrix)
    torch.testing.assert_close(newton_grad, exact_grad)


def full_attention(block: SoftAttention3d, x: torch.Tensor, normalization: str) -> torch.Tensor:
    """The block's output with the exact N x N Gaussian kernel instead of its Nystrom form."""
    b, c = x.shape[:2]
    normed = block.norm(x.reshape(b, c, -1))
    queries, values = (
        layer(normed).unflatten(1, (block.heads, -1)).to(normed.dtype)
        for layer in (block.to_queries, block.to_values)
    )
    # Projections follow the ambient autocast; the products run in full precision, as in the block.
    with torch.autocast(x.device.type, enabled=False):
        mixed = reference.soft_attention(queries, values, normalization)  # exact degrees >= 1 need no floor
        return reference.residual(x, block.out.weight, mixed.flatten(1, 2))


@pytest.mark.parametrize("normalization", ["none", "symmetric", "row"])
@pytest.mark.parametrize("inverse", ["solve", "newton"])
def test_nystrom_is_exact_when_every_voxel_is_a_landmark(normalization: str, inverse: str) -> None:
    shape = (2, 3, 5)  # odd sizes; the landmark grid equals the volume
    x = torch.randn(2, 6, *shape, dtype=torch.float64)
    block = random_block(
        "soft",
        6,
        heads=2,
        landmarks=shape,
        normalization=normalization,
        inverse=inverse,
        newton_iterations=60,
        eps=0.0,
        chunk_voxels=7,
    )
    with torch.no_grad():  # spread the queries so the landmark kernel is well conditioned
        block.to_queries.weight.mul_(4)
    torch.testing.assert_close(block(x), full_attention(block, x, normalization), rtol=1e-7, atol=1e-7)


def constant_value_block(normalization: str) -> SoftAttention3d:
    """A block whose values are 1 everywhere and whose output projection is the identity."""
    block = random_block("soft", 4, dtype=torch.float32, value_channels=4, normalization=normalization)
    with torch.no_grad():
        block.to_values.weight.zero_()
        block.to_values.bias.fill_(1.0)
        block.out.weight.copy_(torch.eye(4))
    return block


@pytest.mark.parametrize("size", [(8, 8, 8), (8, 16, 16), (8, 32, 32)])  # N = 512, 2048, 8192
def test_symmetric_normalization_keeps_outputs_independent_of_volume_size(size: tuple[int, int, int]) -> None:
    x = torch.randn(1, 4, *size)
    symmetric = (constant_value_block("symmetric")(x) - x).mean().item()
    assert 0.8 < symmetric < 1.2


def test_row_normalization_averages_values() -> None:
    # Each output is sum_j A_ij v_j / sum_j A_ij: constant values come back unchanged at any N.
    for size in [(8, 8, 8), (8, 32, 32)]:
        x = torch.randn(1, 4, *size)
        torch.testing.assert_close(constant_value_block("row")(x) - x, torch.ones_like(x), rtol=0, atol=1e-4)


def test_unnormalized_outputs_grow_with_volume_size() -> None:
    block = constant_value_block("none")
    small, large = (torch.randn(1, 4, 8, s, s) for s in (8, 32))  # N = 512 and 8192
    ratio = (block(large) - large).mean() / (block(small) - small).mean()
    assert ratio > 8  # ~16x more voxels


def test_landmark_grid_is_capped_by_small_volumes() -> None:
    block = SoftAttention3d(4, landmarks=(4, 4, 8))
    assert block.landmark_grid(2, 135, 5) == (2, 4, 5)


def test_every_voxel_contributes_to_the_landmarks_of_odd_sized_volumes() -> None:
    # D=48, H=135, W=240 scaled down: 17 and 15 do not divide into the 4x4x8 grid.
    x = torch.randn(1, 8, 6, 17, 15, requires_grad=True)
    block = random_block("soft", 8, dtype=torch.float32)
    (gradient,) = torch.autograd.grad(block.landmark_queries(x).square().sum(), x)
    assert (gradient.abs().sum(dim=1) > 0).all()


def test_bf16_autocast_rounds_only_the_projections() -> None:
    # The landmark inverse has large entries of both signs: the Nystrom products must stay in fp32.
    shape = (2, 3, 4)
    x = torch.randn(1, 8, *shape) * 4
    block = random_block("soft", 8, dtype=torch.float32, landmarks=shape, eps=0.0)
    with torch.no_grad():
        block.to_queries.weight.mul_(4)  # well-conditioned landmark kernel, so fp32 is exact enough
    with torch.autocast("cpu", dtype=torch.bfloat16):
        actual = block(x)
        expected = full_attention(block, x, "symmetric")  # bf16 projections, then fp32 products
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_permuting_voxels_within_landmark_regions_permutes_the_output() -> None:
    # Region means, hence landmarks, are unchanged by shuffles inside each 2x2x2 region.
    x = torch.randn(1, 8, 4, 4, 4, dtype=torch.float64)
    block = random_block("soft", 8, landmarks=(2, 2, 2))
    index = torch.arange(64).view(2, 2, 2, 2, 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(8, 8)  # rows: regions
    order = torch.empty(64, dtype=torch.long)
    order[index.flatten()] = torch.stack([row[torch.randperm(8)] for row in index]).flatten()
    permuted = x.flatten(2)[:, :, order].view_as(x)
    expected = block(x).flatten(2)[:, :, order].view_as(x)
    torch.testing.assert_close(block(permuted), expected)


def test_odd_sized_volumes_not_divisible_by_the_landmark_grid() -> None:
    # D=48, H=135, W=240 scaled down: 135 and 15 are not multiples of the 4x4x8 grid.
    x = torch.randn(1, 8, 6, 17, 15, dtype=torch.float64)
    block = random_block("soft", 8, chunk_voxels=100)
    reference = random_block("soft", 8, chunk_voxels=10_000)
    reference.load_state_dict(block.state_dict())
    out = block(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    torch.testing.assert_close(out, reference(x))


@pytest.mark.parametrize(("normalization", "passes"), [("symmetric", 3), ("row", 2)])
def test_kept_kernels_are_formed_once_and_change_nothing(
    normalization: str, passes: int, monkeypatch
) -> None:
    x = torch.randn(1, 8, 6, 17, 15)  # 1530 voxels: 16 chunks of 100 (the last of 30)
    formed = []

    def counted(landmarks: torch.Tensor, tokens: torch.Tensor, out: torch.Tensor | None = None):
        formed.append(tokens.shape[-1])
        return kernel_from_factors(landmarks, tokens, out=out)

    monkeypatch.setattr(soft, "kernel_from_factors", counted)
    chunk_mib = 128 * 100 * 4 / 2**20  # m = 128 landmarks, fp32
    weights = random_block("soft", 8, torch.float32).state_dict()
    outputs = {}
    for budget, kept in ((0.0, 0), (4.2 * chunk_mib, 4), (512.0, 16)):  # 4.2: not the short last chunk
        block = build_attention(
            "soft", 8, chunk_voxels=100, kernel_cache_mib=budget, normalization=normalization
        )
        block.load_state_dict(weights)
        formed.clear()
        with torch.no_grad():
            outputs[kept] = block(x)
        # The landmarks' own 128 x 128 kernel once, then the kept chunks once, the others every pass.
        assert formed[0] == 128 and len(formed) - 1 == kept + passes * (16 - kept)
    torch.testing.assert_close(outputs[4], outputs[0], rtol=0, atol=0)
    torch.testing.assert_close(outputs[16], outputs[0], rtol=0, atol=0)


def test_training_recomputes_what_inference_keeps_to_the_same_outputs() -> None:
    x = torch.randn(1, 8, 6, 17, 15)
    block = random_block("soft", 8, torch.float32, chunk_voxels=100)
    trained = block(x)
    trained.square().sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(block(x), trained.detach())


@pytest.mark.parametrize("bad", [{"landmarks": (4, 4)}, {"inverse": "qr"}, {"normalization": "softmax"}])
def test_invalid_options_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        SoftAttention3d(8, **bad)


def test_fp32_kernel_stays_within_a_few_ulp_of_fp64_distances() -> None:
    # The kernel is formed as 2^(exponent log2 e) for speed; in fp32 it must stay as close to the
    # explicit fp64 Gaussian as rounding the expanded exponent allows.
    torch.manual_seed(0)
    a = 3 * torch.randn(2, 8, 64, dtype=torch.float64)
    b = 3 * torch.randn(2, 8, 500, dtype=torch.float64)
    expected = reference.gaussian_kernel(a, b)
    kernel = gaussian_kernel(a.float(), b.float()).double()
    assert expected.min() < 1e-6 < expected.max()  # exponents over many units, not only near 0
    torch.testing.assert_close(kernel, expected, rtol=2e-5, atol=1e-12)


def test_kernel_gradient_matches_explicit_distances() -> None:
    # FactoredKernel's hand-written backward against autograd through explicit pairwise distances.
    a = torch.randn(2, 6, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 6, 9, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 5, 9, dtype=torch.float64)
    gradients = torch.autograd.grad((gaussian_kernel(a, b) * weights).sum(), (a, b))
    expected = torch.autograd.grad((reference.gaussian_kernel(a, b) * weights).sum(), (a, b))
    for gradient, want in zip(gradients, expected, strict=True):
        torch.testing.assert_close(gradient, want)


def test_chunks_count_the_voxels_of_every_sample_and_head(monkeypatch) -> None:
    x = torch.randn(2, 8, 6, 17, 15)  # 1530 voxels per sample
    widths = []

    def counted(landmarks: torch.Tensor, tokens: torch.Tensor, out: torch.Tensor | None = None):
        widths.append(tokens.shape[-1])
        return kernel_from_factors(landmarks, tokens, out=out)

    monkeypatch.setattr(soft, "kernel_from_factors", counted)
    block = random_block("soft", 8, torch.float32, heads=2, chunk_voxels=400)
    reference = random_block("soft", 8, torch.float32, heads=2, chunk_voxels=10**6)
    reference.load_state_dict(block.state_dict())
    with torch.no_grad():
        out = block(x)
        assert set(widths[1:]) == {100, 30}  # 400 voxels over 2 samples x 2 heads; the last chunk short
        torch.testing.assert_close(out, reference(x))
