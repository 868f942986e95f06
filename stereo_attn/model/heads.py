"""From a cost volume to disparity: soft-argmin with a confidence, and guided convex upsampling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def soft_argmin(cost: torch.Tensor, window: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, D, H, W) matching scores (higher = better) -> expected disparity index and confidence, (B, H, W).

    ``window``: average only over the bins within ``window`` of the most likely one (renormalized), so
    a second mode (the background behind a thin leaf) no longer pulls the estimate between the two;
    None averages over all bins. Confidence is the probability mass within one bin of the most likely
    disparity: near 1 for a sharp, single-peaked distribution, low for flat or multi-modal ones.
    """
    probability = cost.softmax(dim=1)
    candidates = torch.arange(cost.shape[1], device=cost.device, dtype=probability.dtype).view(1, -1, 1, 1)
    if window is None:
        disparity = (probability * candidates).sum(dim=1)
    else:
        near_peak = (candidates - probability.argmax(dim=1, keepdim=True)).abs() <= window
        local = probability * near_peak
        disparity = (local * candidates).sum(dim=1) / local.sum(dim=1)
    padded = F.pad(probability, (0, 0, 0, 0, 1, 1))  # zero bins beyond both ends of D
    three_bins = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    return disparity, three_bins.amax(dim=1)


class ConvexUpsampler(nn.Module):
    """x4 upsampling where each full-resolution pixel is a learned convex combination of its 3x3
    low-resolution neighbours (RAFT), weighted from image context: edges stay sharp."""

    def __init__(self, context_channels: int, factor: int = 4, hidden: int = 64) -> None:
        super().__init__()
        self.factor = factor
        self.mask = nn.Sequential(
            nn.Conv2d(context_channels, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 9 * factor * factor, 1),
        )

    def weights(self, context: torch.Tensor) -> torch.Tensor:
        """(B, 9, f, f, H, W) convex weights from (B, C, H, W) context."""
        b, _, h, w = context.shape
        return self.mask(context).view(b, 9, self.factor, self.factor, h, w).softmax(dim=1)

    def forward(self, disparity: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(B, H, W) disparity in low-resolution pixels -> (B, fH, fW) in full-resolution pixels."""
        b, h, w = disparity.shape
        f = self.factor
        neighbours = F.unfold(disparity[:, None] * f, 3, padding=1).view(b, 9, 1, 1, h, w)
        upsampled = (weights * neighbours).sum(dim=1)  # (B, f, f, H, W)
        return upsampled.permute(0, 3, 1, 4, 2).reshape(b, h * f, w * f)
