"""The synthetic data benchmark: how fast the generator is, and how hard its scenes are for StereoSGBM."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from stereo_attn import options
from stereo_attn.data.io import write_image
from stereo_attn.data.synthetic.generators import generator_dataset, synthetic_from_config
from stereo_attn.data.synthetic.options import GeneratorOptions
from stereo_attn.data.writers import markdown_table, write_json_atomic
from stereo_attn.evaluation.evaluate import evaluate
from stereo_attn.evaluation.protocols import Protocol
from stereo_attn.evaluation.sgbm import fill_holes, sgbm_disparity
from stereo_attn.viz import stereo_montage


def generator_speed(
    config: GeneratorOptions, height: int, width: int, pairs: int, rounds: int, seed: int
) -> dict[str, Any]:
    """Pairs per second on one core (one thread for torch and OpenCV, as in a DataLoader worker).

    The median over ``rounds`` rounds of ``pairs`` different pairs: this machine is shared, and single
    runs of the same code varied by 30%.
    """
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    sized = replace(config, height=height, width=width)
    dataset = generator_dataset(sized, "train", pairs * rounds + 1, seed)
    dataset[pairs * rounds]  # warm-up: imports, first allocations
    per_round = []
    for round_index in range(rounds):
        start = time.perf_counter()
        for index in range(round_index * pairs, (round_index + 1) * pairs):
            dataset[index]
        per_round.append(pairs / (time.perf_counter() - start))
    return {
        "height": height,
        "width": width,
        "pairs": pairs,
        "rounds": rounds,
        "pairs_per_second": float(np.median(per_round)),
        "pairs_per_second_rounds": per_round,
    }


def sgbm_scores(config: GeneratorOptions, pairs: int, seed: int, block_size: int) -> dict[str, Any]:
    """StereoSGBM on test pairs: EPE and bad-N over all pixels (holes filled) and over visible ones, and
    the share of pixels it matched before filling (``density``)."""
    dataset = generator_dataset(config, "test", pairs, seed)
    density = []

    def predictor(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        raw = sgbm_disparity(left, right, config.max_disparity, block_size)
        density.append(float(np.isfinite(raw).mean()))
        return fill_holes(raw)

    samples = (dataset[index] for index in range(pairs))
    protocol = Protocol("all", range_cut=False)
    _, summaries = evaluate(samples, {"StereoSGBM": predictor}, protocol, config.max_disparity, pairs)
    result: dict[str, Any] = {"pairs": pairs, "block_size": block_size, "density": float(np.mean(density))}
    result.update({k: v for k, v in summaries["StereoSGBM"].items() if k.startswith(("all_", "noc_"))})
    return result


def preview(config: GeneratorOptions, count: int, seed: int, scale: float = 0.5) -> np.ndarray:
    """A montage of the first test pairs (left, right, colour-mapped disparity), resized by ``scale``."""
    dataset = generator_dataset(config, "test", count, seed)
    montage = stereo_montage([dataset[index] for index in range(count)], config.max_disparity)
    if scale == 1:
        return montage
    return cv2.resize(montage, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def run(cfg: DictConfig) -> None:
    """scripts/bench_synthetic.py's job (conf/bench_synthetic.yaml): measure, print, write the JSON."""
    for key in ("speed.height", "speed.width", "speed.pairs", "speed.rounds", "sgbm.pairs", "preview_pairs"):
        options.integer(OmegaConf.select(cfg, key), key, minimum=1)
    options.integer(cfg.sgbm.block_size, "sgbm.block_size", minimum=1)
    preview_scale = options.number(cfg.preview_scale, "preview_scale", positive=True)
    config, seed = synthetic_from_config(cfg)
    speed = generator_speed(
        config, cfg.speed.height, cfg.speed.width, cfg.speed.pairs, cfg.speed.rounds, seed
    )
    rounds = ", ".join(f"{value:.1f}" for value in speed["pairs_per_second_rounds"])
    print(markdown_table(["size", "pairs x rounds", "pairs/s (1 core, median)", "rounds"], [
        [f"{speed['height']}x{speed['width']}", f"{speed['pairs']} x {speed['rounds']}",
         f"{speed['pairs_per_second']:.1f}", rounds]
    ]))  # fmt: skip
    sgbm = sgbm_scores(config, cfg.sgbm.pairs, seed, cfg.sgbm.block_size)
    rows = [
        [region, f"{sgbm[f'{region}_epe']:.2f}", *(f"{sgbm[f'{region}_bad{n}']:.1f}" for n in (1, 2, 3))]
        for region in ("all", "noc")
    ]
    print(f"\nStereoSGBM on {sgbm['pairs']} test pairs ({config.width}x{config.height}, "
          f"density {100 * sgbm['density']:.1f}%, holes filled):\n")  # fmt: skip
    print(markdown_table(["pixels", "EPE", "bad-1 %", "bad-2 %", "bad-3 %"], rows))
    synthetic = OmegaConf.to_container(cfg.data.synthetic, resolve=True)
    write_json_atomic(cfg.output, {"speed": speed, "sgbm": sgbm, "synthetic": synthetic})
    print(f"wrote {cfg.output}")
    if cfg.preview:
        write_image(cfg.preview, preview(config, cfg.preview_pairs, seed, preview_scale))
        print(f"wrote {cfg.preview}")
