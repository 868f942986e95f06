"""Stereo depth estimation with a cost volume refined by linear-complexity attention."""

__version__ = "0.1.0"
