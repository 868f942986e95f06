"""Generator speed (pairs/s on one core) and a classical baseline (StereoSGBM) on its test split.

python scripts/bench_synthetic.py output=bench_synthetic.json
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn.bench.synthetic import run
from stereo_attn.cli import run_reporting_errors
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="bench_synthetic")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(lambda: run(cfg))


if __name__ == "__main__":
    check_overrides("bench_synthetic")
    main()
