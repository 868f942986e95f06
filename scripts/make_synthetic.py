"""Write pairs of the procedural generator in the Scene Flow layout (PNG images, PFM disparity).

python scripts/make_synthetic.py root=data/synthetic split=test count=200
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from stereo_attn import options
from stereo_attn.cli import run_reporting_errors
from stereo_attn.data.export import export_synthetic
from stereo_attn.data.synthetic import SyntheticConfig


def run(cfg: DictConfig) -> str:
    root = options.path(cfg.root, "root")
    generator = OmegaConf.to_container(cfg.data.synthetic.generator, resolve=True)
    count = export_synthetic(
        root,
        cfg.split,
        cfg.count,
        options.integer(cfg.data.synthetic.seed, "data.synthetic.seed", minimum=0),
        SyntheticConfig.from_options(generator),
        cfg.frames_per_sequence,
        overwrite=cfg.overwrite,
    )
    return f"wrote {count} {cfg.split} pairs under {root}"


@hydra.main(version_base="1.3", config_path="../conf", config_name="make_synthetic")
def main(cfg: DictConfig) -> None:
    print(run_reporting_errors(lambda: run(cfg)))


if __name__ == "__main__":
    main()
