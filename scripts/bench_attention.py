"""Scaling benchmark: time and peak memory of every attention block and a Conv3d yardstick.

python scripts/bench_attention.py output=bench_attention.json
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn.bench.attention import run_benchmark, summarize
from stereo_attn.bench.sweep import run_sweep
from stereo_attn.cli import run_reporting_errors
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="bench_attention")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(lambda: run_sweep(cfg, run_benchmark, summarize))


if __name__ == "__main__":
    check_overrides("bench_attention")
    main()
