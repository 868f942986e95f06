"""StereoSGBM's best setting on real pairs at several sizes: the yardstick of the real-image targets.

python scripts/bench_sgbm.py [real_pair=DIR] [scales=[0.5,0.333333,0.25]] [output=bench_sgbm.json]
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn.bench.sgbm_settings import run
from stereo_attn.cli import run_reporting_errors
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="bench_sgbm")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(lambda: run(cfg))


if __name__ == "__main__":
    check_overrides("bench_sgbm")
    main()
