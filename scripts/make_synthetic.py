"""Write pairs of the procedural generator in the Scene Flow layout (PNG images, PFM disparity).

python scripts/make_synthetic.py root=data/synthetic split=test count=200
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn import options
from stereo_attn.cli import run_reporting_errors
from stereo_attn.data.synthetic.export import export_synthetic
from stereo_attn.data.synthetic.generators import synthetic_from_config
from stereo_attn.overrides import check_overrides


def run(cfg: DictConfig) -> str:
    root = options.path(cfg.root, "root")
    generator, seed = synthetic_from_config(cfg)
    count = export_synthetic(
        root, cfg.split, cfg.count, seed, generator, cfg.frames_per_sequence,
        overwrite=cfg.overwrite, workers=cfg.workers,
    )  # fmt: skip
    return f"wrote {count} {cfg.split} pairs under {root}"


@hydra.main(version_base="1.3", config_path="../conf", config_name="make_synthetic")
def main(cfg: DictConfig) -> None:
    print(run_reporting_errors(lambda: run(cfg)))


if __name__ == "__main__":
    check_overrides("make_synthetic")
    main()
