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
    # The right features padded with `disparities` zero columns on the left: every shift is a slice of
    # width w, so the loop has the same shapes at any image width (an exported graph with a dynamic
    # width keeps working when the image is narrower than the disparity range).
    padded = torch.nn.functional.pad(right, (disparities, 0))
    volume = left.new_empty(b, groups, disparities, h, w)
    for d in range(disparities):
        shifted = padded[..., disparities - d : disparities - d + w]
        volume[:, :, d] = (left * shifted).view(b, groups, c // groups, h, w).mean(dim=2)
    return volume
