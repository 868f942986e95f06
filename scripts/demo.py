"""The one-command demo: synthetic test pairs -> evaluation against StereoSGBM -> inference outputs.

python scripts/demo.py [pairs=40] [infer_pairs=3]
"""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from stereo_attn.benchmarking import write_json_atomic
from stereo_attn.calibration import calibration_from_options
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.data.export import export_synthetic, pair_paths
from stereo_attn.data.sceneflow import SceneFlow
from stereo_attn.data.synthetic import SyntheticConfig
from stereo_attn.evaluation import PROTOCOLS, evaluate, network_predictor, sgbm_predictor, summary_table
from stereo_attn.inference import Pair, infer

ROOT = Path(__file__).resolve().parents[1]
FRAMES_PER_SEQUENCE = 10


@hydra.main(version_base="1.3", config_path="../conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    folder = Path(cfg.output_dir)
    checkpoint = ROOT / cfg.checkpoint
    generator = SyntheticConfig(**OmegaConf.to_container(cfg.data.synthetic.generator, resolve=True))
    print(f"1/3 generating {cfg.pairs} synthetic test pairs")
    export_synthetic(
        folder / "pairs", "test", cfg.pairs, cfg.data.synthetic.seed, generator, frames_per_sequence=10
    )

    print(f"2/3 evaluating {checkpoint.name} and StereoSGBM on them")
    network = network_from_checkpoint(checkpoint)
    max_disparity = float(network.max_disparity)
    dataset = SceneFlow(folder / "pairs", split="TEST")
    methods = {
        "model": network_predictor(network, torch.device("cpu")),
        "StereoSGBM": sgbm_predictor(max_disparity),
    }
    samples = (dataset[i] for i in range(len(dataset)))
    _, summaries = evaluate(samples, methods, PROTOCOLS["synthetic"], max_disparity, len(dataset))
    write_json_atomic(folder / "evaluation.json", summaries)
    print(summary_table(summaries))

    print(f"3/3 inference on {cfg.infer_pairs} pairs")
    pairs = [
        Pair(**{side: p[side] for side in ("left", "right")})
        for p in map(lambda i: pair_paths(folder / "pairs", "test", i, 10), range(cfg.infer_pairs))
    ]
    calibration = calibration_from_options(None, cfg.focal_length, cfg.baseline)
    infer(pairs, folder / "inference", checkpoint, calibration=calibration)
    print(f"\noutputs in {folder}:")
    print(
        f"  pairs/            {cfg.pairs} generated test pairs (Scene Flow layout: PNG images, PFM disparity)"
    )
    print("  evaluation.json   the table above, with all/noc regions")
    print("  inference/        per pair: .pfm, _disp16.png, _color.png, _confidence.png, _depth.pfm, .ply")


if __name__ == "__main__":
    main()
