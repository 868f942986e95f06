"""Group-wise correlation cost volume (GwcNet): (B, G, D, H, W) from left and right features."""

from __future__ import annotations

import torch


def groupwise_correlation(
    left: torch.Tensor, right: torch.Tensor, disparities: int, groups: int
) -> torch.Tensor:
    """vol[b, g, d, y, x] = mean over group g's channels of left[..., y, x] * right[..., y, x - d]; 0 where
    x - d falls outside the image. Features (B, C, H, W), C divisible by ``groups``."""
    b, c, h, w = left.shape
    if c % groups:
        raise ValueError(f"feature channels {c} are not divisible by groups={groups}")
    volume = left.new_zeros(b, groups, disparities, h, w)
    for d in range(min(disparities, w)):
        product = left[..., d:] * (right[..., : w - d] if d else right)
        volume[:, :, d, :, d:] = product.view(b, groups, c // groups, h, w - d).mean(dim=2)
    return volume
