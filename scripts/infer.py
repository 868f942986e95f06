"""Predict disparity (and optionally depth) for stereo pairs with a trained checkpoint.

python scripts/infer.py left=L.png right=R.png output_dir=DIR
python scripts/infer.py left=data/left right=data/right output_dir=DIR batch_size=4
python scripts/infer.py list=pairs.txt calib=calib.txt output_dir=DIR

See conf/infer.yaml for the options and stereo_attn/outputs.py for the files written per pair.
Bad inputs end with one line ``error: ...`` on stderr, exit status 1, and no output written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from stereo_attn.calibration import calibration_from_options
from stereo_attn.inference import find_pairs, infer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "small_efficient_synthetic.ckpt"


def _path(value: str | None) -> str | None:
    return None if value is None else to_absolute_path(str(value))


def run(cfg: DictConfig) -> dict:
    # Globs go through to_absolute_path too: it only joins a relative path to the original directory.
    pairs = find_pairs(_path(cfg.left), _path(cfg.right), _path(cfg.list))
    calibration = calibration_from_options(_path(cfg.calib), cfg.focal_length, cfg.baseline)
    return infer(
        pairs,
        output_dir=_path(cfg.output_dir),
        checkpoint=_path(cfg.checkpoint) or DEFAULT_CHECKPOINT,
        max_disparity=cfg.max_disparity,
        batch_size=cfg.batch_size,
        device=cfg.device,
        calibration=calibration,
        ply_stride=cfg.ply_stride,
        progress=cfg.progress,
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="infer")
def main(cfg: DictConfig) -> None:
    try:
        summary = run(cfg)
    except (
        ValueError,
        OSError,
    ) as error:  # the project's one-line errors (DataFormatError, CheckpointError...)
        message = " ".join(str(error).split("\n")) or type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    print(
        f"wrote {summary['files']} files for {summary['pairs']} pair(s) to {summary['output_dir']} "
        f"(max_disparity {summary['max_disparity']}, {summary['device']})"
    )


if __name__ == "__main__":
    main()
