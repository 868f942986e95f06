"""The attention ablation: python scripts/ablate_attention.py data_root=DIR; see conf/ablate_attention.yaml.

Trains and evaluates each (variant, seed) not done yet, times every variant, then writes the records
and summary (JSON), the table (markdown) and error against inference time (PNG) next to ``output``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from stereo_attn.bench.ablation_report import run
from stereo_attn.cli import run_reporting_errors
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="ablate_attention")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(lambda: run(OmegaConf.to_container(cfg, resolve=True)))


if __name__ == "__main__":
    check_overrides("ablate_attention")
    main()
