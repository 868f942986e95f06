"""One training run from a composed config: data, module, logger, callbacks, Trainer, final report."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, LearningRateMonitor
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from stereo_attn.checkpoint import fit_weights, load_network_weights, network_weights, read_checkpoint
from stereo_attn.data.sample import to_arrays
from stereo_attn.evaluation.evaluate import evaluate
from stereo_attn.evaluation.metrics import METRICS
from stereo_attn.evaluation.protocols import Protocol
from stereo_attn.evaluation.sgbm import sgbm_predictor
from stereo_attn.training.checks import check_training_options, resume_run_id
from stereo_attn.training.module import StereoModule
from stereo_attn.training.precision import resolve_precision
from stereo_attn.training.real_validation import RealPairValidation, real_validation_pairs
from stereo_attn.training.targets import instantiate_checked

log = logging.getLogger(__name__)


def build_module(cfg: DictConfig) -> StereoModule:
    plain = lambda key: OmegaConf.to_container(cfg[key], resolve=True) if cfg[key] is not None else None  # noqa: E731
    module = StereoModule(
        model=plain("model"),
        optimizer=plain("optimizer"),
        scheduler=plain("scheduler"),
        loss=plain("loss"),
        images=plain("images"),
        max_nonfinite_losses=cfg.max_nonfinite_losses,
        compile=plain("compile_options") if cfg.compile else None,
    )
    if cfg.init_from:  # fine-tuning: weights only; optimizer, schedule and step start afresh
        load_network_weights(module.network, cfg.init_from)
    if cfg.ckpt_path:  # one line naming the tensor, rather than Lightning's strict-loading report
        weights = network_weights(read_checkpoint(cfg.ckpt_path), cfg.ckpt_path)
        fit_weights(module.network, weights, cfg.ckpt_path)
    return module


def build_logger(cfg: DictConfig) -> Logger | bool:
    if cfg.logger is None:
        return False
    options: dict[str, Any] = {}
    if cfg.ckpt_path and "WandbLogger" in cfg.logger._target_:
        run_id = resume_run_id(read_checkpoint(cfg.ckpt_path), cfg.ckpt_path)
        if run_id:  # continue the interrupted run's W&B history
            options = {"id": run_id, "resume": "allow"}
    return instantiate_checked(cfg.logger, "logger", **options)


def build_callbacks(cfg: DictConfig, has_logger: bool) -> list[Callback]:
    callbacks = [
        instantiate_checked(c, f"callbacks.{name}")
        for name, c in (cfg.callbacks or {}).items()
        if c is not None
    ]
    # Lightning refuses a learning-rate monitor without a logger.
    return [c for c in callbacks if has_logger or not isinstance(c, LearningRateMonitor)]


def sgbm_scores(samples: Sequence[dict[str, Any]], max_disparity: float, range_cut: bool) -> dict[str, float]:
    """StereoSGBM on validation samples (arrays), over the pixels training validates them on: the split's
    0 < gt < max_disparity (``range_cut``), or a real pair's every pixel with ground truth."""
    methods = {"sgbm": sgbm_predictor(max_disparity)}
    protocol = Protocol("all", range_cut=range_cut)
    _, summaries = evaluate(samples, methods, protocol, max_disparity, len(samples))
    return {key: summaries["sgbm"][key] for key in METRICS}


def train(cfg: DictConfig, extra_callbacks: Sequence[Callback] = ()) -> dict[str, float]:
    """Fit, validate the final weights, compare with StereoSGBM on the same split; the metrics dict."""
    check_training_options(cfg)
    # Resolved in the config itself, so the logged hyperparameters say what actually ran.
    cfg.trainer.precision = resolve_precision(str(cfg.trainer.precision), str(cfg.trainer.accelerator))
    L.seed_everything(cfg.seed, workers=True)
    Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
    datamodule = instantiate_checked(cfg.data, "data")
    real_pairs = real_validation_pairs(cfg.real_validation)
    module = build_module(cfg)
    logger = build_logger(cfg)
    callbacks = [*build_callbacks(cfg, has_logger=bool(logger)), *extra_callbacks]
    real = RealPairValidation(real_pairs) if real_pairs is not None else None
    if real is not None:
        callbacks.append(real)
    trainer: L.Trainer = instantiate_checked(
        cfg.trainer, "trainer", default_root_dir=cfg.run_dir, logger=logger, callbacks=callbacks
    )
    if isinstance(logger, WandbLogger) and trainer.is_global_zero:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True)

    last = getattr(module, "validation_metrics", {})
    if last.get("step") != trainer.global_step:  # the schedule did not end on a validation
        trainer.validate(module, datamodule=datamodule, verbose=False)
    result = {k: v for k, v in module.validation_metrics.items() if k != "step"}
    if real is not None and trainer.is_global_zero:
        result.update({f"real_{k}": v for k, v in real.metrics.items() if k != "step"})
    result["steps"] = trainer.global_step
    if cfg.baseline == "sgbm" and trainer.is_global_zero:
        val = datamodule.dataset("val")
        scored = {"": sgbm_scores([to_arrays(val[i]) for i in range(len(val))], module.max_disparity, True)}
        if real is not None:
            scored["real_"] = sgbm_scores(real.samples, module.max_disparity, range_cut=False)
        for prefix, baseline in scored.items():
            result.update({f"{prefix}sgbm_{k}": v for k, v in baseline.items()})
            if isinstance(logger, WandbLogger):
                section = "val_real" if prefix else "val"
                logger.experiment.summary.update({f"{section}/sgbm_{k}": v for k, v in baseline.items()})
    if isinstance(logger, WandbLogger) and trainer.is_global_zero:
        logger.experiment.finish()  # flush the offline run before the final report
    return result
