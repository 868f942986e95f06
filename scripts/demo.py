"""The one-command demo: synthetic test pairs -> evaluation against StereoSGBM -> inference outputs.

python scripts/demo.py [pairs=40] [infer_pairs=3] [output_dir=DIR]
Everything goes to a new folder (outputs/demo/<time> by default) that appears only when the demo is done.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from stereo_attn import options
from stereo_attn.benchmarking import write_json_atomic
from stereo_attn.calibration import calibration_from_options
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.cli import run_reporting_errors
from stereo_attn.data.export import export_synthetic, pair_paths
from stereo_attn.data.sceneflow import SceneFlow
from stereo_attn.data.synthetic import synthetic_from_config
from stereo_attn.evaluation import PROTOCOLS, evaluate, network_predictor, sgbm_predictor, summary_table
from stereo_attn.inference import MIN_IMAGE_SIDE, Pair, infer
from stereo_attn.staging import Staging, reserve_folder, timestamp

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "small_efficient_synthetic.ckpt"
FRAMES_PER_SEQUENCE = 10
ENTRIES = ("pairs", "evaluation.json", "inference")


def run(cfg: DictConfig) -> Path:
    pairs = options.integer(cfg.pairs, "pairs", minimum=1)
    infer_pairs = options.integer(cfg.infer_pairs, "infer_pairs", minimum=0, maximum=pairs)
    checkpoint = options.path(cfg.checkpoint, "checkpoint", optional=True) or DEFAULT_CHECKPOINT
    calibration = calibration_from_options(
        None,
        options.number(cfg.focal_length, "focal_length", positive=True),
        options.number(cfg.baseline, "baseline", positive=True),
    )
    generator, seed = synthetic_from_config(cfg)
    if infer_pairs and min(generator.height, generator.width) < MIN_IMAGE_SIDE:
        size, least = f"{generator.width}x{generator.height}", f"at least {MIN_IMAGE_SIDE} px"
        raise options.OptionError(f"data.synthetic.generator: {size} pairs are too small to infer ({least})")
    network = network_from_checkpoint(checkpoint)  # a bad checkpoint fails before any pair is made
    given = options.path(cfg.output_dir, "output_dir", optional=True)
    folder = given or reserve_folder(Path("outputs", "demo"), timestamp(), "output_dir")
    staging_folder = Staging(folder, ENTRIES, "output_dir", owned=given is None, replace_hint=None)
    with staging_folder as staging:
        print(f"1/3 generating {pairs} synthetic test pairs")
        export_synthetic(staging / "pairs", "test", pairs, seed, generator, FRAMES_PER_SEQUENCE)

        print(f"2/3 evaluating {checkpoint.name} and StereoSGBM on them")
        max_disparity = float(network.max_disparity)
        dataset = SceneFlow(staging / "pairs", split="TEST")
        methods = {
            "model": network_predictor(network, torch.device("cpu")),
            "StereoSGBM": sgbm_predictor(max_disparity),
        }
        samples = (dataset[i] for i in range(len(dataset)))
        _, summaries = evaluate(samples, methods, PROTOCOLS["synthetic"], max_disparity, len(dataset))
        write_json_atomic(staging / "evaluation.json", summaries)
        print(summary_table(summaries))

        print(f"3/3 inference on {infer_pairs} pairs")
        paths = [pair_paths(staging / "pairs", "test", i, FRAMES_PER_SEQUENCE) for i in range(infer_pairs)]
        chosen = [Pair(path["left"], path["right"]) for path in paths]
        inference = staging / "inference"
        if chosen:
            infer(chosen, inference, checkpoint, calibration=calibration, device="cpu")
        else:
            inference.mkdir()
    return folder


@hydra.main(version_base="1.3", config_path="../conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    folder = run_reporting_errors(lambda: run(cfg))
    print(f"\noutputs in {folder}:")
    print(
        f"  pairs/            {cfg.pairs} generated test pairs (Scene Flow layout: PNG images, PFM disparity)"
    )
    print("  evaluation.json   the table above, with all/noc regions")
    print("  inference/        per pair: .pfm, _disp16.png, _color.png, _confidence.png, _depth.pfm, .ply")


if __name__ == "__main__":
    main()
