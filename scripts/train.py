"""Train the stereo network: python scripts/train.py [Hydra overrides]; see conf/train.yaml.

The last line of standard output is a JSON object with the final validation metrics and, with
baseline=sgbm, StereoSGBM's on the same split (keys sgbm_*).
"""

from __future__ import annotations

import json
import sys

import hydra
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from stereo_attn.training.report import format_report
from stereo_attn.training.run import train


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        result = train(cfg)
    except SIGTERMException:
        sys.exit(143)  # stopped by a scheduler; checkpoints/last.ckpt holds the state to resume from
    if rank_zero_only.rank == 0:
        print(format_report(result, cfg.run_dir))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
