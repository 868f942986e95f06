"""Tiny training configs for tests: a 48x96 synthetic world, a small max disparity, a few steps."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

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
]


def tiny_config(run_dir: Path, *overrides: str) -> DictConfig:
    """The training config with TINY settings, no logger unless asked, writing into ``run_dir``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[*TINY, "logger=none", f"run_dir={run_dir}", *overrides])


def tiny_arguments(run_dir: Path, *overrides: str) -> list[str]:
    """The same as command-line overrides for scripts/train.py (its Hydra run folder is ``run_dir``)."""
    return [*TINY, "logger=none", f"hydra.run.dir={run_dir}", *overrides]
