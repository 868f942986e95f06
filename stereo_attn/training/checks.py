"""The training options checked before anything is built: types, ranges and the checkpoints named.

Lightning accepts ``max_steps=-1`` (train forever, with a schedule over zero steps), a DataLoader
fails on ``batch_size=0`` only once the first batch is drawn, and a missing ``ckpt_path`` surfaces
after the model is built; each of these is one line here instead.
"""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig, ListConfig

from stereo_attn import options
from stereo_attn.checkpoint import CheckpointError, read_checkpoint

# W&B run ids are letters, digits, - and _ (they become part of a folder name).
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _crop(value: Any) -> None:
    value = list(value) if isinstance(value, ListConfig) else value
    options.dimensions(value, "data.crop", ("height", "width"), optional=True)


def _interval(value: Any) -> None:
    """Lightning's val_check_interval: steps (an int >= 1) or a fraction of an epoch in (0, 1]."""
    if isinstance(value, float) and not isinstance(value, bool) and 0 < value <= 1:
        return
    options.integer(value, "trainer.val_check_interval", minimum=1)


def check_training_options(cfg: DictConfig) -> None:
    """Raise an ``OptionError`` (or ``CheckpointError``) for the first option that cannot work."""
    options.integer(cfg.seed, "seed", minimum=0)
    options.integer(cfg.trainer.max_steps, "trainer.max_steps", minimum=1)
    _interval(cfg.trainer.val_check_interval)
    options.integer(cfg.trainer.max_epochs, "trainer.max_epochs", minimum=-1)
    options.integer(cfg.trainer.log_every_n_steps, "trainer.log_every_n_steps", minimum=1)
    accumulate = cfg.trainer.get("accumulate_grad_batches", 1)
    options.integer(accumulate, "trainer.accumulate_grad_batches", minimum=1)
    options.integer(cfg.data.batch_size, "data.batch_size", minimum=1)
    options.integer(cfg.data.eval_batch_size, "data.eval_batch_size", minimum=1)
    options.integer(cfg.data.num_workers, "data.num_workers", minimum=0)
    options.integer(cfg.data.worker_niceness, "data.worker_niceness", minimum=0, maximum=19)
    _crop(cfg.data.crop)
    options.number(cfg.optimizer.lr, "optimizer.lr", positive=True)
    options.integer(cfg.max_nonfinite_losses, "max_nonfinite_losses", minimum=1)
    options.boolean(cfg.compile, "compile")
    options.choice(cfg.baseline, "baseline", [None, "sgbm"])
    if cfg.ckpt_path is not None and cfg.init_from is not None:
        raise options.OptionError("give ckpt_path= (resume a run) or init_from= (fine-tune), not both")
    for key in ("ckpt_path", "init_from"):
        if cfg[key] is not None:
            read_checkpoint(options.path(cfg[key], key))  # exists, loads weights-only, has a state_dict


def resume_run_id(checkpoint: dict[str, Any], path: str) -> str | None:
    """The W&B run id a checkpoint stores, if any; a malformed one is an error, not a folder name."""
    run_id = checkpoint.get("wandb_run_id")
    if run_id is None:
        return None
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise CheckpointError(f"{path}: its wandb_run_id {run_id!r} is not a W&B run id")
    return run_id
