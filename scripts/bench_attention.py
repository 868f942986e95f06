"""Scaling benchmark: time and peak memory of every attention block and a Conv3d yardstick.

python scripts/bench_attention.py output=bench_attention.json
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from stereo_attn.attention_benchmark import run_benchmark, summarize
from stereo_attn.benchmarking import write_json_atomic


@hydra.main(version_base="1.3", config_path="../conf", config_name="bench_attention")
def main(cfg: DictConfig) -> None:
    settings = OmegaConf.to_container(cfg, resolve=True)
    output = settings.pop("output")
    records = run_benchmark(**settings)
    print(summarize(records))
    write_json_atomic(output, records)
    print(f"wrote {len(records)} records to {output}")


if __name__ == "__main__":
    main()
