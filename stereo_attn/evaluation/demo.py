"""The one-command demo: synthetic test pairs, the shipped checkpoint against StereoSGBM on them,
inference outputs for a few, and the shipped real pair at several sizes, all in one new folder that
appears only when the demo is done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig

from stereo_attn import options
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.data.io import write_image
from stereo_attn.data.readers.middlebury2006 import Middlebury2006
from stereo_attn.data.readers.sceneflow import SceneFlow
from stereo_attn.data.synthetic.export import export_synthetic
from stereo_attn.data.synthetic.generators import synthetic_from_config
from stereo_attn.data.writers import write_json_atomic
from stereo_attn.evaluation.evaluate import evaluate, network_predictor, summary_table
from stereo_attn.evaluation.protocols import PROTOCOLS
from stereo_attn.evaluation.real_pair import real_pair_table, score_real_pair, size_name
from stereo_attn.evaluation.sgbm import sgbm_predictor
from stereo_attn.inference.calibration import calibration_from_options
from stereo_attn.inference.pairs import MIN_IMAGE_SIDE, Pair
from stereo_attn.inference.run import infer
from stereo_attn.staging import Staging, reserve_folder, timestamp

ENTRIES = ("pairs", "evaluation.json", "inference", "real_pair")


def real_scales(value: Any) -> list[float]:
    """``real_scales``: sizes in (0, 1] to read the real pair at; an empty list skips it."""
    if not isinstance(value, list | ListConfig):
        raise options.OptionError(
            f"real_scales={value}: expected a list of sizes in (0, 1], e.g. [0.5, 0.25]"
        )
    scales = [options.number(scale, "real_scales", positive=True) for scale in value]
    if any(scale > 1 for scale in scales):
        raise options.OptionError(f"real_scales={list(value)}: expected sizes in (0, 1], e.g. [0.5, 0.25]")
    return scales


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
    scales = real_scales(cfg.real_scales)
    real_pair = options.path(cfg.real_pair, "real_pair")
    if scales:
        Middlebury2006(real_pair)  # a missing or misshapen folder fails now, not after the synthetic steps
    network = network_from_checkpoint(checkpoint)  # a bad checkpoint fails before any pair is made
    given = options.path(cfg.output_dir, "output_dir", optional=True)
    folder = given or reserve_folder(Path("outputs", "demo"), timestamp(), "output_dir")
    staging_folder = Staging(folder, ENTRIES, "output_dir", owned=given is None, replace_hint=None)
    with staging_folder as staging:
        print(f"1/4 generating {pairs} synthetic test pairs")
        export_synthetic(staging / "pairs", "test", pairs, seed, generator)

        print(f"2/4 evaluating {checkpoint.name} and StereoSGBM on them")
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

        print(f"3/4 inference on {infer_pairs} pairs")
        chosen = [Pair(Path(entry["left"]), Path(entry["right"])) for entry in dataset.entries[:infer_pairs]]
        inference = staging / "inference"
        if chosen:
            infer(chosen, inference, checkpoint, calibration=calibration, device="cpu")
        else:
            inference.mkdir()

        sizes = ", ".join(size_name(scale) for scale in scales) or "no sizes (real_scales=[])"
        print(f"4/4 the real pair in {real_pair} at {sizes}: model and StereoSGBM, dense")
        (staging / "real_pair").mkdir()
        if scales:
            real, pictures = score_real_pair(real_pair, scales, methods, max_disparity)
            write_json_atomic(staging / "real_pair" / "evaluation.json", real)
            for size, picture in pictures.items():
                write_image(staging / "real_pair" / f"{real_pair.name}_{size.replace('/', '-')}.png", picture)
            print(real_pair_table(real))
    return folder
