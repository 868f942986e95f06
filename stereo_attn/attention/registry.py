"""Attention blocks by name, so configs swap them without code edits."""

from __future__ import annotations

from typing import Any

from torch import nn

from stereo_attn.attention.dot_product import DotProductAttention3d
from stereo_attn.attention.efficient import EfficientAttention3d
from stereo_attn.attention.polynl import PolyNL3d
from stereo_attn.attention.soft import SoftAttention3d

ATTENTION_BLOCKS: dict[str, type[nn.Module]] = {
    "efficient": EfficientAttention3d,
    "soft": SoftAttention3d,
    "polynl": PolyNL3d,
    "dot_product": DotProductAttention3d,
}


def build_attention(name: str, channels: int, **options: Any) -> nn.Module:
    """A residual block (B, C, D, H, W) -> (B, C, D, H, W); ``none`` is the identity."""
    if name == "none":
        if options:
            raise ValueError(f"attention 'none' takes no options, got {sorted(options)}")
        return nn.Identity()
    if name not in ATTENTION_BLOCKS:
        raise ValueError(f"unknown attention block {name!r}; expected one of {[*ATTENTION_BLOCKS, 'none']}")
    try:
        return ATTENTION_BLOCKS[name](channels, **options)
    except TypeError as error:  # an option the block does not have
        raise ValueError(f"attention {name!r}: {error}") from None
