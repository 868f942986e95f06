"""The one-command demo: synthetic test pairs -> evaluation against StereoSGBM -> inference outputs.

python scripts/demo.py [pairs=40] [infer_pairs=3] [real_scales=[0.5,0.333333,0.25]] [output_dir=DIR]
Everything goes to a new folder (outputs/demo/<time> by default) that appears only when the demo is done.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn.cli import run_reporting_errors
from stereo_attn.evaluation.demo import run
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    folder = run_reporting_errors(lambda: run(cfg))
    print(f"\noutputs in {folder}:")
    print(f"  pairs/            {cfg.pairs} generated test pairs (Scene Flow layout: PNG, PFM, occlusions)")
    print("  evaluation.json   the table above, with all/noc regions")
    print("  inference/        per pair: .pfm, _disp16.png, _color.png, _confidence.png, _depth.pfm, .ply")
    print("  real_pair/        evaluation.json (the real-pair table) and per size a picture:")
    print("                    left | ground truth | model | StereoSGBM, each over its error map")


if __name__ == "__main__":
    check_overrides("demo")
    main()
