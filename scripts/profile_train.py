"""Where one training step of the default configuration spends its time, phase by phase.

python scripts/profile_train.py [output=profile_train.json] [steps=10] [warmup=3] [train overrides...]
Any scripts/train.py override applies (e.g. model/attention=soft); prints a table, writes JSON.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from stereo_attn import options
from stereo_attn.bench.profile import profile_training, summarize
from stereo_attn.cli import run_reporting_errors
from stereo_attn.data.writers import write_json_atomic
from stereo_attn.overrides import check_overrides


def run(cfg: DictConfig) -> None:
    steps = options.integer(cfg.steps, "steps", minimum=1)
    warmup = options.integer(cfg.warmup, "warmup", minimum=0)
    output = options.path(cfg.output, "output")
    result = profile_training(cfg, steps, warmup)
    print(summarize(result))
    write_json_atomic(output, result)
    print(f"wrote {output}")


@hydra.main(version_base="1.3", config_path="../conf", config_name="profile_train")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(lambda: run(cfg))


if __name__ == "__main__":
    check_overrides("profile_train")
    main()
