"""The LightningModule: loss over every network output, pixel-weighted validation metrics, images."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.errors import InstantiationException
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_warn

from stereo_attn.data.io import write_image
from stereo_attn.evaluation.metrics import MetricTotals, in_range_mask
from stereo_attn.model.spec import build_network
from stereo_attn.training.loss import disparity_loss
from stereo_attn.training.targets import instantiate_checked
from stereo_attn.viz import prediction_row

SUM_KEYS = ("pixels", "abs_error", "bad1", "bad2", "bad3", "d1")


class NonFiniteLossError(RuntimeError):
    pass


class StereoModule(L.LightningModule):
    """Trains a StereoNetwork built from its config.

    Every argument is a plain container (the composed Hydra config), stored as hyper-parameters, so
    checkpoints load with ``torch.load(..., weights_only=True)`` and rebuild the network from themselves.
    """

    def __init__(
        self,
        model: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        images: Mapping[str, Any] | None = None,
        max_nonfinite_losses: int = 5,
        compile: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.network = build_network(model, "")
        self.max_disparity = float(self.network.max_disparity)
        self.stage_weights = (loss or {}).get("stage_weights")
        self.images = {"count": 2, "max_error": 5.0, **(images or {})}
        self.nonfinite_in_a_row = 0
        self.totals = MetricTotals()
        self.rows: list[np.ndarray] = []
        if compile is not None:
            # In place: the parameters keep their names, so checkpoints stay interchangeable.
            self.network.compile(**compile)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> dict[str, Any]:
        return self.network(left, right)

    # Training ---------------------------------------------------------------------------------

    def training_step(self, batch: dict[str, Any], batch_index: int) -> torch.Tensor | None:
        output = self.network(batch["left"], batch["right"])
        loss = disparity_loss(
            output["disparities"], batch["disparity"], batch["valid"], self.max_disparity, self.stage_weights
        )
        if not self._finite(loss):
            return None  # no backward: the optimizer step leaves the weights as they are
        with torch.no_grad():
            mask = in_range_mask(batch["disparity"], batch["valid"], self.max_disparity)
            epe = (output["disparity"].float() - batch["disparity"]).abs()[mask].mean()
        size = batch["left"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/epe", epe, prog_bar=True, batch_size=size)
        return loss

    def _finite(self, loss: torch.Tensor) -> bool:
        """Whether to keep this step; every rank decides the same. Raises after too many bad ones in a row."""
        finite = self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss)), all=True)
        if finite:
            self.nonfinite_in_a_row = 0
            return True
        self.nonfinite_in_a_row += 1
        limit = self.hparams.max_nonfinite_losses
        rank_zero_warn(
            f"step {self.global_step}: non-finite loss ({loss.item()}), batch skipped "
            f"({self.nonfinite_in_a_row} of at most {limit} in a row)"
        )
        if self.nonfinite_in_a_row >= limit:
            raise NonFiniteLossError(
                f"{limit} non-finite losses in a row, the last at step {self.global_step}: training "
                "diverged; lower optimizer.lr, set trainer.gradient_clip_val or use 32-true precision"
            )
        return False

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = instantiate_checked(self.hparams.optimizer, "optimizer", params=self.parameters())
        if self.hparams.scheduler is None:
            return {"optimizer": optimizer}
        # The schedule spans trainer.max_steps, so a run stopped early and resumed follows the same curve.
        steps = (
            self.trainer.max_steps if self.trainer.max_steps > 0 else self.trainer.estimated_stepping_batches
        )
        try:
            scheduler = instantiate_checked(
                self.hparams.scheduler, "scheduler", optimizer=optimizer, total_steps=int(steps)
            )
        except InstantiationException as error:  # e.g. OneCycleLR with a one-step warm-up divides by zero
            raise ValueError(
                f"scheduler {self.hparams.scheduler} over {steps} steps: {error.__cause__!r}"
            ) from None
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if isinstance(self.logger, WandbLogger):
            checkpoint["wandb_run_id"] = self.logger.version  # ckpt_path=... continues this W&B run
        # A resumed run stops after the same run of non-finite losses as an uninterrupted one.
        checkpoint["nonfinite_in_a_row"] = self.nonfinite_in_a_row

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.nonfinite_in_a_row = int(checkpoint.get("nonfinite_in_a_row", 0))

    # Validation -------------------------------------------------------------------------------

    def on_validation_epoch_start(self) -> None:
        self.totals, self.rows = MetricTotals(), []

    def validation_step(self, batch: dict[str, Any], batch_index: int) -> None:
        prediction = self.network(batch["left"], batch["right"])["disparity"].float()
        target = batch["disparity"]
        mask = in_range_mask(target, batch["valid"], self.max_disparity)
        self.totals.update(prediction, target, mask)
        if len(self.rows) < self.images["count"] and self.trainer.is_global_zero:
            self.rows.append(self._picture(batch, prediction))

    def _picture(self, batch: dict[str, Any], prediction: torch.Tensor) -> np.ndarray:
        first = lambda t: t[0].detach().cpu().numpy()  # noqa: E731
        return prediction_row(
            first(batch["left"]).transpose(1, 2, 0),
            first(batch["disparity"]),
            first(batch["valid"]),
            first(prediction),
            self.max_disparity,
            self.images["max_error"],
        )

    def on_validation_epoch_end(self) -> None:
        # Pixel-weighted over the whole split: sum the per-rank sums, then divide once.
        local = torch.tensor([self.totals.sums.get(k, 0.0) for k in SUM_KEYS], dtype=torch.float64)
        summed = self.trainer.strategy.reduce(local.to(self.device), reduce_op="sum").cpu()
        metrics = MetricTotals(dict(zip(SUM_KEYS, summed.tolist(), strict=True))).compute()
        self.validation_metrics = {"step": self.global_step, **metrics}
        self.log_dict({f"val/{k}": v for k, v in metrics.items()}, sync_dist=False)
        if self.rows and not self.trainer.sanity_checking:
            self.log_picture(np.concatenate(self.rows, axis=0))

    def log_picture(self, picture: np.ndarray, prefix: str = "val") -> None:
        """Validation rows as W&B ``<prefix>/examples``, or (CSV, no logger) ``images/<prefix>_step*.png``."""
        caption = "left | ground truth | prediction | error (0 to {:g} px)".format(self.images["max_error"])
        if isinstance(self.logger, WandbLogger):
            self.logger.log_image(f"{prefix}/examples", [picture], step=self.global_step, caption=[caption])
        elif self.trainer.is_global_zero:  # PNGs next to the checkpoints
            folder = Path(self.trainer.default_root_dir) / "images"
            folder.mkdir(parents=True, exist_ok=True)
            write_image(folder / f"{prefix}_step{self.global_step:07d}.png", picture)
