"""Write pairs of the procedural generator in the Scene Flow layout (PNG images, PFM disparity).

python scripts/make_synthetic.py root=data/synthetic split=test count=200
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from stereo_attn.data.export import export_synthetic
from stereo_attn.data.synthetic import SyntheticConfig


@hydra.main(version_base="1.3", config_path="../conf", config_name="make_synthetic")
def main(cfg: DictConfig) -> None:
    generator = SyntheticConfig(**OmegaConf.to_container(cfg.data.synthetic.generator, resolve=True))
    count = export_synthetic(
        cfg.root, cfg.split, cfg.count, cfg.data.synthetic.seed, generator, cfg.frames_per_sequence
    )
    print(f"wrote {count} {cfg.split} pairs under {cfg.root}")


if __name__ == "__main__":
    main()
