"""The stereo network: features, cost volume, attention-refined 3D aggregation, regression, upsampling."""

from stereo_attn.model.network import StereoNetwork

__all__ = ["StereoNetwork"]
