"""Whole-model benchmark: every preset with every attention block at Scene Flow, KITTI and 4 MP sizes.

python scripts/bench_model.py output=bench_model.json
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn.bench.model import run_benchmark, summarize
from stereo_attn.bench.sweep import run_sweep
from stereo_attn.cli import run_reporting_errors
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="bench_model")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(lambda: run_sweep(cfg, run_benchmark, summarize))


if __name__ == "__main__":
    check_overrides("bench_model")
    main()
