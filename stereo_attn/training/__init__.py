"""Training: the LightningModule, its loss, callbacks, and the Hydra-driven run."""

from stereo_attn.training.loss import disparity_loss, stage_weights
from stereo_attn.training.module import StereoModule

__all__ = ["StereoModule", "disparity_loss", "stage_weights"]
