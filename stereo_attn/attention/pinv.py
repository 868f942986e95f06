"""Inverse of the SOFT landmark kernel: Newton-Raphson iterations or a direct solve.

Newton-Raphson (Ben-Israel): V_{k+1} = 2 V_k - V_k A V_k from V_0 = alpha A^T. The residual of an
eigenvalue lambda shrinks like (1 - alpha lambda^2)^(2^k): a few dozen iterations are exact for a
well-conditioned matrix, but at condition numbers of 1e4 and above they do not converge. With a
few hundred landmarks a direct solve in fp32 is exact and costs nothing next to the N*m work, so
it is the default; Newton stays selectable to match the SOFT reference.
"""

from __future__ import annotations

import torch

INVERSE_METHODS = ("solve", "newton")


def newton_iterations(matrix: torch.Tensor, iterations: int) -> torch.Tensor:
    """Newton-Raphson approximation of pinv(matrix) for a batch of square matrices (no autograd)."""
    # alpha < 2 / sigma_max^2 guarantees convergence; the max row sum bounds sigma_max for
    # symmetric matrices, and 0.9 keeps a margin (as in the SOFT reference).
    row_sum = matrix.abs().sum(dim=-1).amax(dim=-1)
    alpha = 1.8 / row_sum.square()
    inverse = alpha[..., None, None] * matrix.mT
    for _ in range(iterations):
        inverse = 2 * inverse - inverse @ matrix @ inverse
    return inverse


class NewtonInverse(torch.autograd.Function):
    """Newton-Raphson inverse whose backward is the exact inverse's: dA^-1 = -A^-1 dA A^-1."""

    @staticmethod
    def forward(ctx, matrix: torch.Tensor, iterations: int) -> torch.Tensor:  # type: ignore[override]
        with torch.no_grad():
            inverse = newton_iterations(matrix, iterations)
        ctx.save_for_backward(inverse)
        return inverse

    @staticmethod
    def backward(ctx, grad_inverse: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (inverse,) = ctx.saved_tensors
        return -inverse.mT @ grad_inverse @ inverse.mT, None


def solve_landmarks(
    kernel: torch.Tensor,
    rhs: torch.Tensor,
    method: str = "solve",
    iterations: int = 20,
    eps: float = 1e-4,
) -> torch.Tensor:
    """pinv(kernel + eps I) @ rhs for batched (.., m, m) kernels, in at least fp32.

    ``eps`` regularizes landmark kernels that are singular (duplicate landmarks) or nearly so.
    """
    dtype = torch.float64 if kernel.dtype == torch.float64 else torch.float32
    kernel, rhs = kernel.to(dtype), rhs.to(dtype)
    if eps:
        kernel = kernel + eps * torch.eye(kernel.shape[-1], dtype=dtype, device=kernel.device)
    with torch.autocast(kernel.device.type, enabled=False):
        if method == "solve":
            return torch.linalg.solve(kernel, rhs)
        if method == "newton":
            return NewtonInverse.apply(kernel, iterations) @ rhs
    raise ValueError(f"inverse method must be one of {INVERSE_METHODS}, got {method!r}")
