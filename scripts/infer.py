"""Predict disparity (and optionally depth) for stereo pairs with a trained checkpoint.

python scripts/infer.py left=L.png right=R.png output_dir=DIR
python scripts/infer.py left=data/left right=data/right output_dir=DIR batch_size=4
python scripts/infer.py list=pairs.txt calib=calib.txt output_dir=DIR

See conf/infer.yaml for the options and stereo_attn/outputs.py for the files written per pair.
Bad inputs end with one line ``error: ...`` on stderr, exit status 1, and no output written.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from stereo_attn import options
from stereo_attn.calibration import calibration_from_options
from stereo_attn.cli import run_reporting_errors
from stereo_attn.inference import find_pairs, infer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "small_efficient_synthetic.ckpt"


def run(cfg: DictConfig) -> dict:
    # Relative paths (globs too) are taken from the directory the script was started in.
    path = lambda key: None if cfg[key] is None else str(options.path(cfg[key], key))  # noqa: E731
    pairs = find_pairs(path("left"), path("right"), path("list"))
    calibration = calibration_from_options(
        path("calib"),
        options.number(cfg.focal_length, "focal_length", positive=True, optional=True),
        options.number(cfg.baseline, "baseline", positive=True, optional=True),
    )
    return infer(
        pairs,
        output_dir=options.path(cfg.output_dir, "output_dir", optional=True),
        checkpoint=options.path(cfg.checkpoint, "checkpoint", optional=True) or DEFAULT_CHECKPOINT,
        max_disparity=cfg.max_disparity,
        batch_size=cfg.batch_size,
        device=cfg.device,
        calibration=calibration,
        ply_stride=cfg.ply_stride,
        progress=options.boolean(cfg.progress, "progress"),
        overwrite=cfg.overwrite,
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="infer")
def main(cfg: DictConfig) -> None:
    summary = run_reporting_errors(
        lambda: run(cfg), memory_hint="downscale the images, lower max_disparity= or use batch_size=1"
    )
    print(
        f"wrote {summary['files']} files for {summary['pairs']} pair(s) to {summary['output_dir']} "
        f"(max_disparity {summary['max_disparity']}, {summary['device']})"
    )


if __name__ == "__main__":
    main()
