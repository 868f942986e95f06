"""Training: the LightningModule, its loss, callbacks, and the Hydra-driven run."""

from .loss import disparity_loss, stage_weights
from .module import StereoModule

__all__ = ["StereoModule", "disparity_loss", "stage_weights"]
