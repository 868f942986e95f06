"""Training throughput of presets x attention blocks x precisions, each in a fresh process.

python scripts/bench_train.py output=bench_train.json
python scripts/bench_train.py +model@models.base=base '~models.small' device=cuda \
    precisions=[bf16-mixed,16-mixed] batch_size=8
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn.bench.sweep import run_sweep
from stereo_attn.bench.training import run_benchmark, summarize
from stereo_attn.cli import run_reporting_errors
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="bench_train")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(lambda: run_sweep(cfg, run_benchmark, summarize))


if __name__ == "__main__":
    check_overrides("bench_train")
    main()
