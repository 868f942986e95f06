"""Every attention config composes with Hydra and builds a working block."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from stereo_attn.attention import build_attention

CONF = Path(__file__).resolve().parents[1] / "conf"
ATTENTION_CONFIGS = sorted(path.stem for path in (CONF / "model" / "attention").glob("*.yaml"))


def test_every_block_has_a_config() -> None:
    assert ATTENTION_CONFIGS == ["dot_product", "efficient", "none", "polynl", "soft", "soft_lean"]


@pytest.mark.parametrize("name", ATTENTION_CONFIGS)
def test_config_builds_a_residual_block(name: str) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        options = OmegaConf.to_container(compose(f"model/attention/{name}").model.attention)
    block = build_attention(channels=8, **options)
    x = torch.randn(1, 8, 3, 5, 7)
    assert block(x).shape == x.shape


def test_lean_soft_inherits_soft_with_row_normalization_and_fewer_landmarks() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        soft, lean = (
            OmegaConf.to_container(compose(f"model/attention/{n}").model.attention)
            for n in ("soft", "soft_lean")
        )
    assert {k: v for k, v in lean.items() if soft[k] != v} == {"normalization": "row", "landmarks": [2, 4, 4]}


def test_benchmark_config_composes_with_overrides() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("bench_attention", overrides=["blocks.soft.landmarks=[2,2,2]", "include=[soft]"])
    assert cfg.blocks.soft.landmarks == [2, 2, 2]
    assert set(cfg.blocks) == {"efficient", "soft", "polynl", "dot_product"}
    assert cfg.volumes[-1] == [48, 136, 240]  # the full 1/4-resolution Scene Flow volume
