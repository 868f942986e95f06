"""Attention blocks by name, so configs swap them without code edits."""

from __future__ import annotations

from typing import Any

from torch import nn

from stereo_attn.attention.dot_product import DotProductAttention3d
from stereo_attn.attention.efficient import EfficientAttention3d
from stereo_attn.attention.guided import ImageGuidedAttention3d
from stereo_attn.attention.polynl import PolyNL3d
from stereo_attn.attention.soft import SoftAttention3d

ATTENTION_BLOCKS: dict[str, type[nn.Module]] = {
    "efficient": EfficientAttention3d,
    "soft": SoftAttention3d,
    "polynl": PolyNL3d,
    "dot_product": DotProductAttention3d,
}
# Blocks that also read the left image's features at the volume's pixels: forward(volume, guide).
GUIDED_BLOCKS: dict[str, type[nn.Module]] = {"guided": ImageGuidedAttention3d}


def build_attention(name: str, channels: int, guide_channels: int | None = None, **options: Any) -> nn.Module:
    """A residual block (B, C, D, H, W) -> (B, C, D, H, W); ``none`` is the identity. A guided block
    (``GUIDED_BLOCKS``) needs ``guide_channels``, the width of the image features it is given."""
    if name == "none":
        if options:
            raise ValueError(f"attention 'none' takes no options, got {sorted(options)}")
        return nn.Identity()
    if name in GUIDED_BLOCKS:
        if guide_channels is None:
            raise ValueError(f"attention {name!r} needs image features: guide_channels is not given")
        options = {"guide_channels": guide_channels, **options}
    elif name not in ATTENTION_BLOCKS:
        known = [*ATTENTION_BLOCKS, *GUIDED_BLOCKS, "none"]
        raise ValueError(f"unknown attention block {name!r}; expected one of {known}")
    try:
        return {**ATTENTION_BLOCKS, **GUIDED_BLOCKS}[name](channels, **options)
    except TypeError as error:  # an option the block does not have
        raise ValueError(f"attention {name!r}: {error}") from None
