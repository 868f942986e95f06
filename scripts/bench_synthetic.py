"""Generator speed (pairs/s on one core) and a classical baseline (StereoSGBM) on its test split.

python scripts/bench_synthetic.py output=bench_synthetic.json
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from stereo_attn import options
from stereo_attn.benchmarking import markdown_table, write_json_atomic
from stereo_attn.cli import run_reporting_errors
from stereo_attn.data.benchmark import generator_speed, preview, sgbm_scores
from stereo_attn.data.io import write_image
from stereo_attn.data.synthetic import synthetic_from_config


def run(cfg: DictConfig) -> None:
    for key in ("speed.height", "speed.width", "speed.pairs", "speed.rounds", "sgbm.pairs", "preview_pairs"):
        options.integer(OmegaConf.select(cfg, key), key, minimum=1)
    options.integer(cfg.sgbm.block_size, "sgbm.block_size", minimum=1)
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
        write_image(cfg.preview, preview(config, cfg.preview_pairs, seed))
        print(f"wrote {cfg.preview}")


@hydra.main(version_base="1.3", config_path="../conf", config_name="bench_synthetic")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(lambda: run(cfg))


if __name__ == "__main__":
    main()
