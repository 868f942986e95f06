"""Train the stereo network: python scripts/train.py [Hydra overrides]; see conf/train.yaml.

The last line of standard output is a JSON object with the final validation metrics and, with
baseline=sgbm, StereoSGBM's on the same split (keys sgbm_*). A bad option, path or checkpoint is one
``error:`` line on stderr and exit code 1; the run folder goes again if Hydra's config is all it holds.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import hydra
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from stereo_attn.cli import run_reporting_errors
from stereo_attn.overrides import check_overrides
from stereo_attn.training.report import format_report
from stereo_attn.training.run import train

# What Hydra writes into a run folder before the job starts.
HYDRA_ENTRIES = {".hydra", "train.log"}


def remove_if_unused(run_dir: str) -> None:
    """Remove a run folder that holds nothing but Hydra's own files (the run failed before writing)."""
    folder = Path(run_dir)
    if rank_zero_only.rank == 0 and folder.is_dir() and {p.name for p in folder.iterdir()} <= HYDRA_ENTRIES:
        shutil.rmtree(folder, ignore_errors=True)


def fit(cfg: DictConfig) -> dict:
    try:
        return train(cfg)
    except SIGTERMException:
        sys.exit(143)  # stopped by a scheduler; checkpoints/last.ckpt holds the state to resume from


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    result = run_reporting_errors(
        lambda: fit(cfg),
        memory_hint="lower data.batch_size or data.crop, or use trainer.precision=bf16-mixed",
        cleanup=lambda: remove_if_unused(cfg.run_dir),
        handle_sigterm=False,
    )
    if rank_zero_only.rank == 0:
        print(format_report(result, cfg.run_dir))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    check_overrides("train")
    main()
