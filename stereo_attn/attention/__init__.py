"""Residual attention blocks over whole cost volumes, (B, C, D, H, W) -> (B, C, D, H, W)."""

from stereo_attn.attention.dot_product import AttentionMapTooLarge, DotProductAttention3d, attention_map_bytes
from stereo_attn.attention.efficient import EfficientAttention3d
from stereo_attn.attention.guided import ImageGuidedAttention3d
from stereo_attn.attention.pinv import NewtonInverse, newton_iterations, solve_landmarks
from stereo_attn.attention.polynl import PolyNL3d
from stereo_attn.attention.registry import ATTENTION_BLOCKS, GUIDED_BLOCKS, build_attention
from stereo_attn.attention.soft import SoftAttention3d, gaussian_kernel

__all__ = [
    "ATTENTION_BLOCKS",
    "GUIDED_BLOCKS",
    "AttentionMapTooLarge",
    "DotProductAttention3d",
    "EfficientAttention3d",
    "ImageGuidedAttention3d",
    "NewtonInverse",
    "PolyNL3d",
    "SoftAttention3d",
    "attention_map_bytes",
    "build_attention",
    "gaussian_kernel",
    "newton_iterations",
    "solve_landmarks",
]
