"""Image-guided attention: each pixel's matching costs gathered from all pixels that look alike.

Queries and keys come from the left image's features, one per pixel and shared by every disparity;
values are the cost volume's voxels. In the efficient-attention form (Shen et al.),

    y[:, d, i] = sum_j softmax_c(q_i) . softmax_j(k_j) v[:, d, j]

so each disparity slice of the volume is filtered with the same image-defined weights: the learned
form of guided cost aggregation (cost-volume filtering). Every key channel is a soft region of the
image (sky, a wall, an untextured table); a pixel receives its regions' mean costs at every disparity,
which reaches across textureless and reflective areas where 3x3x3 convolutions cannot. Blocks over
voxels alone (efficient, SOFT, Poly-NL) cannot learn this: their tokens carry no position, and a
voxel's own costs say nothing of which other pixels belong to the same surface. Linear in the number
of pixels and of voxels.

``window`` > 0 runs the same attention within square windows of that many pixels (at the volume's
resolution) instead of over the whole image: the regions become local, as in classical cost filtering,
and a window holds as many pixels in a training crop as in a full image, where a softmax over all
pixels spreads over several times more of them than it was trained on.
"""

from __future__ import annotations

import math

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
        window: int = 0,
        prenorm: bool = True,
    ) -> None:
        super().__init__()
        value_channels = value_channels or channels
        key_per_head = check_divisible(key_channels, heads, "key_channels")
        check_divisible(value_channels, heads, "value_channels")
        if key_per_head < 2:
            # With one key channel per head the softmax over channels is constantly 1.
            raise ValueError(f"guided attention needs >= 2 key channels per head, got {key_per_head}")
        if window < 0:
            raise ValueError(f"window must be 0 (the whole map) or a size in pixels, got {window}")
        self.heads = heads
        self.window = window
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
        b, (h, w) = x.shape[0], x.shape[-2:]
        if guide.shape[-2:] != (h, w):
            guide = F.adaptive_avg_pool2d(guide, (h, w))
        dtype = core_dtype(x.dtype)
        windows = Windows(self.window, h, w)
        queries_keys = self.to_queries_keys(self.guide_norm(guide.flatten(2)))
        with torch.autocast(x.device.type, enabled=False):
            queries, keys = queries_keys.to(dtype).view(b, -1, h, w).chunk(2, dim=1)
            queries = split_heads(windows.split(queries, 0.0), self.heads).softmax(dim=2)  # over channels
            keys = split_heads(windows.split(keys, -math.inf), self.heads).softmax(dim=3)  # over pixels
            # (B', D, n, C): a view of a channels_last_3d volume when there are no windows.
            voxels = windows.split_volume(x.permute(0, 2, 3, 4, 1).to(dtype))
            context = self._context(keys.flatten(1, 2), voxels)
            out = _residual_output(voxels, queries.flatten(1, 2).transpose(1, 2), context)
        return windows.join_volume(out, b).permute(0, 4, 1, 2, 3).to(x.dtype)

    def _context(self, keys: torch.Tensor, voxels: torch.Tensor) -> torch.Tensor:
        """(B', D, d_k, C): per disparity, sum_n k_n (W_o W_v v_n)^T with W_o W_v folded per head, so
        no value or output projection of the volume is ever computed. Normalized slab by slab (cache)."""
        summaries = []
        for slab in voxels.split(DISPARITY_SLAB, dim=1):
            normed = F.layer_norm(slab, slab.shape[-1:]) if self.prenorm else slab
            summaries.append(torch.einsum("bkn,bdnc->bdkc", keys, normed))
        summary = torch.cat(summaries, dim=1)
        c = voxels.shape[-1]
        values = self.to_values.to(voxels.dtype).view(self.heads, -1, c)  # (heads, c_v / heads, C)
        out = self.out.to(voxels.dtype).view(c, self.heads, -1)  # (C, heads, c_v / heads)
        folded = torch.einsum("hvc,ehv->hce", values, out)  # per head, W_v^T W_o^T: (heads, C, C)
        summary = summary.unflatten(2, (self.heads, -1))
        return torch.einsum("bdhkc,hce->bdhke", summary, folded).flatten(2, 3)


# Disparities normalized at a time while the context is summed: a slab of a 544x960 volume is ~2 MB.
DISPARITY_SLAB = 4


def _residual_output(voxels: torch.Tensor, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """voxels + queries @ context per disparity, (B', D, n, C); written in place at inference, stacked
    under autograd (in-place writes into slices would make the backward copy the whole gradient)."""
    slabs = range(voxels.shape[1])
    if torch.is_grad_enabled():
        return torch.stack([torch.baddbmm(voxels[:, i], queries, context[:, i]) for i in slabs], dim=1)
    out = torch.empty_like(voxels)
    for i in slabs:
        out[:, i].copy_(voxels[:, i]).baddbmm_(queries, context[:, i])
    return out


class Windows:
    """Square windows of ``size`` pixels tiling an (H, W) map, or the whole map for size 0.

    ``split`` pads a map (right and bottom) to whole windows with ``fill`` and stacks the windows as a
    batch; ``join_volume`` undoes ``split_volume`` and drops the padding. Keys are padded with -inf, so
    padded pixels get no weight: every window starts inside the map, so it holds a real pixel.
    """

    def __init__(self, size: int, height: int, width: int) -> None:
        self.size, self.height, self.width = size, height, width
        self.rows, self.columns = (-(-height // size), -(-width // size)) if size else (1, 1)
        self.padding = (self.columns * size - width, self.rows * size - height) if size else (0, 0)

    def split(self, x: torch.Tensor, fill: float) -> torch.Tensor:
        """(B, ch, H, W) -> (B * windows, ch, pixels per window)."""
        if not self.size:
            return x.flatten(2)
        t, (b, ch) = self.size, x.shape[:2]
        x = F.pad(x, (0, self.padding[0], 0, self.padding[1]), value=fill)
        x = x.view(b, ch, self.rows, t, self.columns, t).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(b * self.rows * self.columns, ch, t * t)

    def split_volume(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W, C) -> (B * windows, D, pixels per window, C), padded with zeros."""
        if not self.size:
            return x.flatten(2, 3)
        t, (b, d, c) = self.size, (x.shape[0], x.shape[1], x.shape[4])
        x = F.pad(x, (0, 0, 0, self.padding[0], 0, self.padding[1]))
        x = x.view(b, d, self.rows, t, self.columns, t, c).permute(0, 2, 4, 1, 3, 5, 6)
        return x.reshape(b * self.rows * self.columns, d, t * t, c)

    def join_volume(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        """(B * windows, D, pixels per window, C) -> (B, D, H, W, C)."""
        d, c = x.shape[1], x.shape[3]
        if not self.size:
            return x.view(batch, d, self.height, self.width, c)
        t = self.size
        x = x.view(batch, self.rows, self.columns, d, t, t, c).permute(0, 3, 1, 4, 2, 5, 6)
        x = x.reshape(batch, d, self.rows * t, self.columns * t, c)[:, :, : self.height, : self.width]
        return x.contiguous()
