"""Evaluate a checkpoint (the shipped one by default) on a benchmark under its protocol.

python scripts/evaluate.py data=synthetic data.root=DIR baseline=sgbm output=PATH.json
python scripts/evaluate.py data=kitti2015 data.root=/datasets/KITTI2015
Writes PATH.json ({"model": summary, "baseline": summary}) and PATH.csv (one row per image), prints a table.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn.cli import run_reporting_errors
from stereo_attn.evaluation.run import run
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(lambda: run(cfg), memory_hint="evaluate on a machine with more memory")


if __name__ == "__main__":
    check_overrides("evaluate")
    main()
