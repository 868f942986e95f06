"""Poly-NL (Babiloni et al., ICCV 2021): a non-local layer as a third-order polynomial, linear in N.

Z = X + [(X W1) * g] W3 with g = mean_j((X W2) * X)_j, * element-wise and the mean over all voxels:
attention whose C x C context matrix is reduced to its diagonal. The branch is cubic in X, so it
runs on a per-voxel normalized input X^ in at least fp32, and W3 starts at zero.

Both passes are rearranged exactly into GEMMs:
- g_c = (W2 M)_cc with the second moment M = mean_j x^_j x^_j^T;
- Z = X + (W3 diag(g) W1) X^: one fused matmul per chunk.
"""

from __future__ import annotations

import torch
from torch import nn

from stereo_attn.attention.common import (
    DEFAULT_CHUNK_VOXELS,
    ChannelNorm,
    ResidualProjection,
    core_dtype,
    voxel_chunks,
)


class PolyNL3d(nn.Module):
    """Residual Poly-NL block, (B, C, D, H, W) -> (B, C, D, H, W)."""

    def __init__(self, channels: int, chunk_voxels: int = DEFAULT_CHUNK_VOXELS) -> None:
        super().__init__()
        self.chunk_voxels = chunk_voxels
        self.norm = ChannelNorm()
        self.w1 = nn.Parameter(torch.empty(channels, channels))
        self.w2 = nn.Parameter(torch.empty(channels, channels))
        for weight in (self.w1, self.w2):
            nn.init.kaiming_uniform_(weight, a=5**0.5)  # nn.Linear's default
        self.w3 = ResidualProjection(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        x_flat = x.reshape(b, c, -1)
        dtype = core_dtype(x.dtype)
        # At inference each chunk's normalized features are kept in the output buffer itself and
        # overwritten by the output pass: one full-size allocation instead of two (first-touch page
        # faults on a 200 MB buffer cost about an eighth of this block's time).
        in_place = not torch.is_grad_enabled()
        store = torch.empty(x_flat.shape, dtype=dtype, device=x.device) if in_place else None
        chunks = list(voxel_chunks(x_flat, self.chunk_voxels))
        with torch.autocast(x.device.type, enabled=False):
            second_moment = 0  # sum of x^ x^^T, (B, C, C)
            normed_chunks = []  # kept so each voxel is normalized once
            for voxels, x_chunk in chunks:
                normed = self.norm(x_chunk, out=store[:, :, voxels] if in_place else None)
                normed_chunks.append(normed)
                second_moment = second_moment + normed @ normed.mT
            second_moment = second_moment / x_flat.shape[-1]
            w1, w2 = self.w1.to(dtype), self.w2.to(dtype)
            gate = (w2 * second_moment.mT).sum(dim=-1)  # g = diag(W2 M), (B, C)
            mixing = self.w3.weight.to(dtype) @ (gate[:, :, None] * w1)  # W3 diag(g) W1, (B, C, C)
            if in_place:
                for (_, x_chunk), normed in zip(chunks, normed_chunks, strict=True):
                    torch.add(x_chunk, mixing @ normed, out=normed)
                return store.to(x.dtype).view_as(x)
            # Under autograd, chunks are joined once (in-place writes into one tensor's slices make
            # the backward clone the whole gradient per chunk).
            parts = [
                torch.baddbmm(x_chunk.to(dtype), mixing, normed)
                for (_, x_chunk), normed in zip(chunks, normed_chunks, strict=True)
            ]
            return torch.cat(parts, dim=-1).to(x.dtype).view_as(x)
