"""Scan a Scene Flow root once and save its pairs as a plain-text list (paths relative to the root),
to check in under data/ and pass to the reader as ``file_list`` instead of scanning again.

    python scripts/make_file_list.py root=/datasets/SceneFlow split=TRAIN output=data/sceneflow_train.txt
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn import options
from stereo_attn.cli import run_reporting_errors
from stereo_attn.data.readers.base import write_file_list
from stereo_attn.data.readers.sceneflow import scan_sceneflow
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="make_file_list")
def main(cfg: DictConfig) -> None:
    def run() -> int:
        entries = scan_sceneflow(cfg.root, cfg.split, cfg.pass_name, list(cfg.subsets))
        write_file_list(options.path(cfg.output, "output"), entries, cfg.root)
        return len(entries)

    print(f"wrote {run_reporting_errors(run)} pairs to {cfg.output}")


if __name__ == "__main__":
    check_overrides("make_file_list")
    main()
