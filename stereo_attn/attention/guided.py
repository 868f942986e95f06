"""Image-guided attention: each pixel's matching costs gathered from all pixels that look alike.

Queries and keys come from the left image's features, one per pixel and shared by every disparity;
values are the cost volume's voxels. In the efficient-attention form (Shen et al.),

    y[:, d, i] = sum_j softmax_c(q_i) . softmax_j(k_j) v[:, d, j]

so each disparity slice of the volume is filtered with the same image-defined weights: the learned,
global form of guided cost aggregation. Every key channel is a soft region of the image (sky, a wall,
an untextured table); a pixel receives its regions' mean costs at every disparity, which reaches across
textureless and reflective areas where 3x3x3 convolutions cannot. Blocks over voxels alone (efficient,
SOFT, Poly-NL) cannot learn this: their tokens carry no position, and a voxel's own costs say nothing of
which other pixels belong to the same surface. Linear in the number of pixels and of voxels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stereo_attn.attention.common import ChannelNorm, Pointwise, check_divisible, core_dtype, split_heads


class ImageGuidedAttention3d(nn.Module):
    """Residual block (B, C, D, H, W) volume + (B, F, H', W') guide -> (B, C, D, H, W).

    A guide of another size is average-pooled to the volume's (H, W). The output projection starts at
    zero, so a new block is the identity.
    """

    def __init__(
        self,
        channels: int,
        guide_channels: int,
        key_channels: int = 32,
        value_channels: int | None = None,
        heads: int = 1,
        prenorm: bool = True,
    ) -> None:
        super().__init__()
        value_channels = value_channels or channels
        key_per_head = check_divisible(key_channels, heads, "key_channels")
        check_divisible(value_channels, heads, "value_channels")
        if key_per_head < 2:
            # With one key channel per head the softmax over channels is constantly 1.
            raise ValueError(f"guided attention needs >= 2 key channels per head, got {key_per_head}")
        self.heads = heads
        self.key_channels = key_channels
        self.value_channels = value_channels
        self.prenorm = prenorm
        self.guide_norm = ChannelNorm()
        self.to_queries_keys = Pointwise(guide_channels, 2 * key_channels)
        # No bias: under the softmax over pixels a value bias only shifts the output by a constant.
        self.to_values = nn.Parameter(torch.empty(value_channels, channels))
        nn.init.kaiming_uniform_(self.to_values, a=5**0.5)  # nn.Linear's default
        self.out = nn.Parameter(torch.zeros(channels, value_channels))

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        b, c, d, h, w = x.shape
        if guide.shape[-2:] != (h, w):
            guide = F.adaptive_avg_pool2d(guide, (h, w))
        dtype = core_dtype(x.dtype)
        queries, keys = self.to_queries_keys(self.guide_norm(guide.flatten(2))).chunk(2, dim=1)
        # Channels last: (B, D, H, W, C) is a view of a channels_last_3d volume, and the per-voxel
        # projections are matmuls over its last dimension.
        voxels = x.permute(0, 2, 3, 4, 1)
        with torch.autocast(x.device.type, enabled=False):
            queries = split_heads(queries.to(dtype), self.heads).softmax(dim=2)  # over a head's channels
            keys = split_heads(keys.to(dtype), self.heads).softmax(dim=3)  # over pixels
            normed = F.layer_norm(voxels.to(dtype), (c,)) if self.prenorm else voxels.to(dtype)
            values = normed @ self.to_values.to(dtype).t()  # (B, D, H, W, c_v)
            # (B, heads, c_v/heads * D, H*W): each pixel's cost vector of its head, disparities in order.
            values = values.view(b, d, h * w, self.heads, -1).permute(0, 3, 4, 1, 2).flatten(2, 3)
            context = torch.einsum("bhkn,bhvn->bhkv", keys, values)
            mixed = torch.einsum("bhkn,bhkv->bhnv", queries, context)  # (B, heads, H*W, c_v/heads * D)
            mixed = mixed.view(b, self.heads, h * w, -1, d).permute(0, 4, 2, 1, 3).reshape(b, d, h, w, -1)
            update = mixed @ self.out.to(dtype).t()  # (B, D, H, W, C)
        return x + update.permute(0, 4, 1, 2, 3).to(x.dtype)
