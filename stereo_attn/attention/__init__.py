"""Residual attention blocks over whole cost volumes, (B, C, D, H, W) -> (B, C, D, H, W)."""

from .dot_product import AttentionMapTooLarge, DotProductAttention3d, attention_map_bytes
from .efficient import EfficientAttention3d
from .pinv import NewtonInverse, newton_iterations, solve_landmarks
from .polynl import PolyNL3d
from .registry import ATTENTION_BLOCKS, build_attention
from .soft import SoftAttention3d, gaussian_kernel

__all__ = [
    "ATTENTION_BLOCKS",
    "AttentionMapTooLarge",
    "DotProductAttention3d",
    "EfficientAttention3d",
    "NewtonInverse",
    "PolyNL3d",
    "SoftAttention3d",
    "attention_map_bytes",
    "build_attention",
    "gaussian_kernel",
    "newton_iterations",
    "solve_landmarks",
]
