"""The one-command demo: synthetic test pairs, the shipped checkpoint against StereoSGBM on them, and
inference outputs for a few, all in one new folder that appears only when the demo is done."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from stereo_attn import options
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.data.readers.sceneflow import SceneFlow
from stereo_attn.data.synthetic.export import export_synthetic
from stereo_attn.data.synthetic.generators import synthetic_from_config
from stereo_attn.data.writers import write_json_atomic
from stereo_attn.evaluation.evaluate import evaluate, network_predictor, summary_table
from stereo_attn.evaluation.protocols import PROTOCOLS
from stereo_attn.evaluation.sgbm import sgbm_predictor
from stereo_attn.inference.calibration import calibration_from_options
from stereo_attn.inference.pairs import MIN_IMAGE_SIDE, Pair
from stereo_attn.inference.run import infer
from stereo_attn.staging import Staging, reserve_folder, timestamp

ENTRIES = ("pairs", "evaluation.json", "inference")


def run(cfg: DictConfig) -> Path:
    """scripts/demo.py's job from its config (conf/demo.yaml); the folder everything went to."""
    pairs = options.integer(cfg.pairs, "pairs", minimum=1)
    infer_pairs = options.integer(cfg.infer_pairs, "infer_pairs", minimum=0, maximum=pairs)
    checkpoint = options.path(cfg.checkpoint, "checkpoint")
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
        export_synthetic(staging / "pairs", "test", pairs, seed, generator)

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
        chosen = [Pair(Path(entry["left"]), Path(entry["right"])) for entry in dataset.entries[:infer_pairs]]
        inference = staging / "inference"
        if chosen:
            infer(chosen, inference, checkpoint, calibration=calibration, device="cpu")
        else:
            inference.mkdir()
    return folder
