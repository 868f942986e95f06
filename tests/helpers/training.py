"""Tiny training configs for tests: a 48x96 synthetic world, a small max disparity, a few steps."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from helpers.project import compose_config

TINY = [
    "model.max_disparity=32",
    "data.synthetic.generator.height=48",
    "data.synthetic.generator.width=96",
    "data.synthetic.generator.max_disparity=24",
    "data.synthetic.generator.min_objects=2",
    "data.synthetic.generator.max_objects=4",
    "data.train.0.length=16",
    "data.val.0.length=2",
    "data.crop=[32,64]",
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.max_steps=2",
    "trainer.precision=32-true",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "~callbacks.progress",
    "baseline=null",
    "real_validation=null",  # its own tests turn it on with a tiny pair
]


def tiny_config(run_dir: Path, *overrides: str) -> DictConfig:
    """The training config with TINY settings, no logger unless asked, writing into ``run_dir``."""
    return compose_config("train", *TINY, "logger=none", f"run_dir={run_dir}", *overrides)


def tiny_arguments(run_dir: Path, *overrides: str) -> list[str]:
    """The same as command-line overrides for scripts/train.py (its Hydra run folder is ``run_dir``)."""
    return [*TINY, "logger=none", f"hydra.run.dir={run_dir}", *overrides]
