"""The stereo network: features, cost volume, attention-refined 3D aggregation, regression, upsampling."""

from .network import StereoNetwork

__all__ = ["StereoNetwork"]
