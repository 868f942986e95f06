"""Real pairs scored at every validation of a training run, next to the synthetic split: a run shows
whether what it learns from generated scenes carries over to photographs (``real_validation`` in
conf/train.yaml; the default is the shipped Aloe pair at 1/3 size)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

from stereo_attn import options
from stereo_attn.data.readers.middlebury2006 import Middlebury2006
from stereo_attn.evaluation.metrics import MetricTotals
from stereo_attn.inference.predict import predict
from stereo_attn.viz import prediction_row

PREFIX = "val_real"


def real_validation_pairs(value: Mapping[str, Any] | DictConfig | None) -> Middlebury2006 | None:
    """``real_validation``: null, or {root: a folder of Middlebury 2006 pairs, scale: in (0, 1]}; the
    pairs, read now so a wrong folder fails before training starts."""
    if value is None:
        return None
    if not isinstance(value, Mapping | DictConfig) or set(value) != {"root", "scale"}:
        raise options.OptionError(
            f"real_validation={value}: expected null or {{root: FOLDER, scale: 0.333333}}"
        )
    scale = options.number(value["scale"], "real_validation.scale", positive=True)
    if scale > 1:
        raise options.OptionError(f"real_validation.scale={scale:g}: expected a size in (0, 1]")
    return Middlebury2006(options.path(value["root"], "real_validation.root"), scale=scale)


class RealPairValidation(Callback):
    """After every validation (not the sanity check), rank 0 predicts each real pair in full and logs
    ``val_real/epe``, ``val_real/bad2``, ... over every pixel with ground truth (dense, as the demo and
    ``data=aloe`` score it), and a picture: W&B ``val_real/examples``, or ``images/val_real_step*.png``."""

    def __init__(self, pairs: Middlebury2006) -> None:
        self.samples = [pairs[index] for index in range(len(pairs))]  # a few small pairs: kept in memory
        self.metrics: dict[str, float] = {}

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        totals, rows = MetricTotals(), []
        for sample in self.samples:
            prediction = predict(module.network, [sample["left"]], [sample["right"]], module.device)[0][0]
            totals.update(prediction, sample["disparity"], sample["valid"])
            # The colour range holds the real pair's own disparities, which may pass the model's range.
            top = max(module.max_disparity, float(sample["disparity"].max()))
            args = (sample["left"], sample["disparity"], sample["valid"], prediction, top)
            rows.append(prediction_row(*args, module.images["max_error"]))
        self.metrics = {"step": trainer.global_step, **totals.compute()}
        module.log_dict(
            {f"{PREFIX}/{k}": v for k, v in self.metrics.items() if k != "step"}, rank_zero_only=True
        )
        module.log_picture(np.concatenate(rows, axis=0), PREFIX)
