"""Whole-model benchmark: every preset with every attention block at Scene Flow, KITTI and 4 MP sizes.

python scripts/bench_model.py output=bench_model.json
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from stereo_attn.benchmarking import write_json_atomic
from stereo_attn.model_benchmark import run_benchmark, summarize


@hydra.main(version_base="1.3", config_path="../conf", config_name="bench_model")
def main(cfg: DictConfig) -> None:
    settings = OmegaConf.to_container(cfg, resolve=True)
    output = settings.pop("output")
    for model in settings["models"].values():
        model.pop("attention", None)  # each run gets one of the configured attention blocks instead
    records = run_benchmark(**settings)
    print(summarize(records))
    write_json_atomic(output, records)
    print(f"wrote {len(records)} records to {output}")


if __name__ == "__main__":
    main()
