"""The project's folders and its Hydra configs, as the tests compose them."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import stereo_attn.cli  # noqa: F401  (registers ${project_root:}, which the configs use)

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
SHIPPED_CHECKPOINT = ROOT / "checkpoints" / "small_efficient_synthetic.ckpt"
# conf/data/common.yaml is the body the data configs extend, not a dataset.
DATA_CONFIGS = sorted(path.stem for path in (CONF / "data").glob("*.yaml") if path.stem != "common")


def compose_config(name: str, *overrides: str) -> DictConfig:
    """``conf/<name>.yaml`` composed with ``overrides``, as a script would see it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(name, overrides=list(overrides))
