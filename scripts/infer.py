"""Predict disparity (and optionally depth) for stereo pairs with a trained checkpoint.

python scripts/infer.py left=L.png right=R.png output_dir=DIR
python scripts/infer.py left=data/left right=data/right output_dir=DIR batch_size=4
python scripts/infer.py list=pairs.txt calib=calib.txt output_dir=DIR
python scripts/infer.py data=kitti2015 data.root=ROOT format=kitti2015 output_dir=DIR   # a submission

See conf/infer.yaml for the options and stereo_attn/inference/outputs.py for the files written per pair.
Bad inputs end with one line ``error: ...`` on stderr, exit status 1, and no output written.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn.cli import run_reporting_errors
from stereo_attn.inference.run import run
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="infer")
def main(cfg: DictConfig) -> None:
    summary = run_reporting_errors(
        lambda: run(cfg), memory_hint="downscale the images, lower max_disparity= or use batch_size=1"
    )
    timing = f", {summary['seconds_per_pair']:.2f} s per pair" if "seconds_per_pair" in summary else ""
    print(
        f"wrote {summary['files']} files for {summary['pairs']} pair(s) to {summary['output_dir']} "
        f"(max_disparity {summary['max_disparity']}, {summary['device']}{timing})"
    )


if __name__ == "__main__":
    check_overrides("infer")
    main()
