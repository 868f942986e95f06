"""Export a checkpoint's network to ONNX (dynamic height and width), checked against torch.

python scripts/export.py output=M.onnx
python scripts/export.py output=M.onnx checkpoint=outputs/train/<run>/checkpoints/best.ckpt max_disparity=192
Then: python scripts/infer.py left=L.png right=R.png output_dir=DIR backend=onnxruntime onnx=M.onnx
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn.cli import run_reporting_errors
from stereo_attn.deploy.export_job import report, run
from stereo_attn.overrides import check_overrides


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    print(report(run_reporting_errors(lambda: run(cfg))))


if __name__ == "__main__":
    check_overrides("export")
    main()
