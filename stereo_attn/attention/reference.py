"""Dense reference formulas of the attention blocks, for tests: each written the direct way.

Every function here builds the explicit N x N matrix the blocks avoid (or, for Poly-NL, follows the
paper's formula term by term), so it is O(N^2) in time and memory and never used by the network.
Tensors keep the blocks' layout: channels before tokens, ``(batch, heads, dim, tokens)``, with
N = tokens = D*H*W voxels. Read each next to the chunked kernel it checks:

- ``softmax_attention``: ``DotProductAttention3d`` (dot_product.py);
- ``scaling_attention``, ``efficient_softmax_attention``: ``EfficientAttention3d`` (efficient.py);
- ``gaussian_kernel``, ``soft_attention``: ``SoftAttention3d`` and its factored kernel (soft.py);
- ``polynl``: ``PolyNL3d`` (polynl.py);
- ``residual``: every block's output projection (``VoxelOutput`` in common.py).
"""

from __future__ import annotations

import torch


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Dot-product attention: out_i = sum_j softmax_j(q_i . k_j / sqrt(key_dim)) v_j.

    q, k: (batch, heads, key_dim, tokens); v: (batch, heads, value_dim, tokens)
    -> (batch, heads, value_dim, tokens).
    """
    scores = torch.einsum("bhkn,bhkm->bhnm", q, k) / q.shape[-2] ** 0.5  # (batch, heads, N, N)
    return torch.einsum("bhnm,bhvm->bhvn", scores.softmax(dim=-1), v)


def scaling_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Dot-product attention with scaling normalization: out_i = sum_j (q_i . k_j / N) v_j.

    Efficient attention with rho_q(Y) = rho_k(Y) = Y / sqrt(N) equals this exactly.
    q, k: (batch, heads, key_dim, tokens); v: (batch, heads, value_dim, tokens)
    -> (batch, heads, value_dim, tokens).
    """
    weights = torch.einsum("bhkn,bhkm->bhnm", q, k) / q.shape[-1]  # (batch, heads, N, N)
    return torch.einsum("bhnm,bhvm->bhvn", weights, v)


def efficient_softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Efficient attention with softmax normalization, through its implied N x N map:
    out_i = sum_j (sum_c rho_q(q)_ci rho_k(k)_cj) v_j, with rho_q a softmax over the key channels
    of each token and rho_k a softmax over the tokens of each key channel. Rows of the map sum to 1.

    q, k: (batch, heads, key_dim, tokens); v: (batch, heads, value_dim, tokens)
    -> (batch, heads, value_dim, tokens).
    """
    weights = torch.einsum("bhcn,bhcm->bhnm", q.softmax(dim=-2), k.softmax(dim=-1))  # (batch, heads, N, N)
    return torch.einsum("bhnm,bhvm->bhvn", weights, v)


def gaussian_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SOFT's kernel from explicit differences: S_ij = exp(-||a_i - b_j||^2 / (2 sqrt(dim))).

    a: (..., dim, m); b: (..., dim, n) -> (..., m, n).
    """
    differences = a[..., :, :, None] - b[..., :, None, :]  # (..., dim, m, n)
    squared = torch.einsum("...dmn,...dmn->...mn", differences, differences)
    return torch.exp(-squared / (2 * a.shape[-2] ** 0.5))


def soft_attention(q: torch.Tensor, v: torch.Tensor, normalization: str) -> torch.Tensor:
    """SOFT with the full Gaussian kernel instead of its Nystrom form: out_i = sum_j A_ij v_j with
    A = S for ``none``, D^-1/2 S D^-1/2 for ``symmetric``, D^-1 S for ``row``; S = gaussian_kernel(q, q),
    D = diag(S 1). Queries double as keys.

    q: (batch, heads, key_dim, tokens); v: (batch, heads, value_dim, tokens)
    -> (batch, heads, value_dim, tokens).
    """
    kernel = gaussian_kernel(q, q)  # (batch, heads, N, N)
    degrees = kernel.sum(dim=-1)  # (batch, heads, N), each >= 1 (the self-similarity)
    if normalization == "symmetric":
        kernel = torch.einsum("bhn,bhnm,bhm->bhnm", degrees.rsqrt(), kernel, degrees.rsqrt())
    elif normalization == "row":
        kernel = kernel / degrees[..., None]
    elif normalization != "none":
        raise ValueError(f"normalization must be 'none', 'symmetric' or 'row', got {normalization!r}")
    return torch.einsum("bhnm,bhvm->bhvn", kernel, v)


def polynl(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """Poly-NL's branch before its output projection, as written: (W1 x) * mean_j((W2 x)_j * x_j),
    products element-wise and the mean over all tokens (the block rearranges it into GEMMs).

    x: (batch, channels, tokens), normalized; w1, w2: (channels, channels) -> (batch, channels, tokens).
    """
    gate = torch.einsum("dc,bcn,bdn->bd", w2, x, x) / x.shape[-1]  # (batch, channels)
    return torch.einsum("dc,bcn,bd->bdn", w1, x, gate)


def residual(x: torch.Tensor, weight: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    """A block's output, x + W mixed, at every token.

    x: (batch, channels, depth, height, width); weight: (channels, value_channels);
    mixed: (batch, value_channels, tokens), heads concatenated -> (batch, channels, depth, height, width).
    """
    return x + torch.einsum("cv,bvn->bcn", weight, mixed).view_as(x)
