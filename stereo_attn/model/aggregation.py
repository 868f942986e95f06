"""3D cost aggregation: a stem on the 1/4 volume, hourglasses down to 1/16, attention at chosen places.

Places are ``quarter`` (the whole 1/4 volume after the stem: every voxel), ``eighth`` and ``sixteenth``
(inside each hourglass). Each place gets the configured block, optionally overridden per place, with
the channel count of the volume there; ``none`` (or no place) keeps the network convolutional. Guided
blocks (``GUIDED_BLOCKS``) also read the left image's features, pooled to the place's resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from stereo_attn.attention import GUIDED_BLOCKS, build_attention
from stereo_attn.model.layers import conv3d, deconv3d

PLACES = ("quarter", "eighth", "sixteenth")


def attention_at(
    place: str,
    channels: int,
    places: Sequence[str],
    block: Mapping[str, Any],
    overrides: Mapping[str, Any],
    guide_channels: int,
) -> nn.Module:
    """The block for ``place`` (identity if the place is not listed)."""
    if place not in places:
        return nn.Identity()
    options = {**block, **overrides.get(place, {})}
    name = options.pop("name")
    if name in GUIDED_BLOCKS:
        options["guide_channels"] = guide_channels
    return build_attention(name, channels, **options)


class _ChannelsLastGradient(torch.autograd.Function):
    """The identity, whose backward hands the gradient on channels-last."""

    @staticmethod
    def forward(ctx: Any, volume: torch.Tensor) -> torch.Tensor:
        return volume.view_as(volume)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=torch.channels_last_3d)


def attend(block: nn.Module, volume: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """``block`` applied to ``volume``, with the image features if it is a guided block.

    The blocks read and write standard-contiguous (B, C, N) voxels, while the convolutions around them
    run channels-last; a ReLU's backward or an add over mixed layouts takes up to 25x as long as over
    one. So the block's output, and in training the gradient it returns, are turned channels-last:
    one copy each: about 20 of the 270 ms of a default training step went to the mixed layouts.
    """
    if isinstance(block, nn.Identity):
        return volume
    if volume.requires_grad and torch.is_grad_enabled():
        volume = _ChannelsLastGradient.apply(volume)
    out = block(volume, guide) if type(block) in GUIDED_BLOCKS.values() else block(volume)
    return out.contiguous(memory_format=torch.channels_last_3d)


HEADS = ("conv", "pointwise")


def scoring_head(channels: int, kind: str) -> nn.Sequential:
    """(B, C, D, H, W) -> (B, 1, D, H, W) matching scores.

    ``conv``: a 3x3x3 layer to C/2 channels with batch norm and ReLU, then a 3x3x3 convolution to one.
    ``pointwise``: a 1x1x1 projection to one channel, then a 3x3x3 convolution of that one channel.
    oneDNN's 3x3x3 convolutions at 1/4 resolution cost about the same at 16 -> 16, 8 or 1 output
    channels on a CPU, and ``conv``'s two of them per supervised stage were 25% of a training step;
    ``pointwise`` costs a quarter of that.
    """
    if kind == "conv":
        hidden = channels // 2
        return nn.Sequential(conv3d(channels, hidden), nn.Conv3d(hidden, 1, 3, padding=1, bias=False))
    if kind == "pointwise":
        return nn.Sequential(nn.Conv3d(channels, 1, 1, bias=False), nn.Conv3d(1, 1, 3, padding=1, bias=False))
    raise ValueError(f"head must be one of {HEADS}, got {kind!r}")


class Hourglass3d(nn.Module):
    """Encoder-decoder over the volume: 1/4 -> 1/8 -> 1/16 -> back, with additive skips."""

    def __init__(self, channels: int, attention: Mapping[str, nn.Module]) -> None:
        super().__init__()
        c = channels
        self.down1 = nn.Sequential(conv3d(c, 2 * c, stride=2), conv3d(2 * c, 2 * c))
        self.down2 = nn.Sequential(conv3d(2 * c, 4 * c, stride=2), conv3d(4 * c, 4 * c))
        self.attention_eighth = attention["eighth"]
        self.attention_sixteenth = attention["sixteenth"]
        self.up2, self.up1 = deconv3d(4 * c, 2 * c), deconv3d(2 * c, c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, quarter: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        eighth = attend(self.attention_eighth, self.down1(quarter), guide)
        sixteenth = attend(self.attention_sixteenth, self.down2(eighth), guide)
        eighth = self.relu(self.up2(sixteenth) + eighth)
        return self.relu(self.up1(eighth) + quarter)


class CostAggregation(nn.Module):
    """(B, G, D, H, W) correlation volume (+ the left image's (B, F, H, W) features, which guided blocks
    read) -> matching scores (B, D, H, W), one per stage."""

    def __init__(
        self,
        in_channels: int,
        channels: int = 16,
        hourglasses: int = 1,
        attention: Mapping[str, Any] | None = None,
        places: Sequence[str] = ("quarter",),
        overrides: Mapping[str, Any] | None = None,
        guide_channels: int = 0,
        head: str = "conv",
    ) -> None:
        super().__init__()
        unknown = [place for place in places if place not in PLACES]
        if unknown:
            raise ValueError(f"attention places must be among {PLACES}, got {unknown}")
        block = dict(attention or {"name": "none"})
        if block.get("name") == "none":
            places = ()
        overrides = dict(overrides or {})
        c = channels
        # Convolutions at 1/4 cost the most (a 16->16 one takes ~0.15 s at 544x960 on 2 CPU cores):
        # one in the stem, the rest of the capacity in the hourglasses at 1/8 and 1/16.
        self.stem = conv3d(in_channels, c)
        at = partial(
            attention_at, places=places, block=block, overrides=overrides, guide_channels=guide_channels
        )
        self.attention_quarter = at("quarter", c)
        self.hourglasses = nn.ModuleList(
            Hourglass3d(
                c,
                {"eighth": at("eighth", 2 * c), "sixteenth": at("sixteenth", 4 * c)},
            )
            for _ in range(hourglasses)
        )
        # One scoring head per stage (stem and each hourglass), for the multi-output training loss.
        self.heads = nn.ModuleList(scoring_head(c, head) for _ in range(hourglasses + 1))

        # oneDNN runs these few-channel 3D convolutions 1.4-1.7x faster channels-last (measured on 2 cores).
        self.to(memory_format=torch.channels_last_3d)

    def forward(
        self, volume: torch.Tensor, guide: torch.Tensor, every_stage: bool = True
    ) -> list[torch.Tensor]:
        """Scores of every stage (training) or of the last one only (inference: saves the other heads)."""
        volume = volume.contiguous(memory_format=torch.channels_last_3d)
        x = attend(self.attention_quarter, self.stem(volume), guide)
        stages = [x]
        for hourglass in self.hourglasses:
            x = hourglass(x, guide)
            stages.append(x)
        chosen = range(len(stages)) if every_stage else [len(stages) - 1]
        return [self.heads[i](stages[i]).squeeze(1) for i in chosen]
