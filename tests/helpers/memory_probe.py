"""Run in a fresh process: peak resident memory of one fp32 inference against the estimate.

python tests/helpers/memory_probe.py PRESET HEIGHT WIDTH [ATTENTION]
-> one JSON line {"measured": bytes, "estimated": bytes}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from stereo_attn.bench.measure import current_rss_bytes, peak_rss_bytes, reset_peak_rss
from stereo_attn.model.memory import inference_bytes
from stereo_attn.model.spec import build_network

# A program of its own (tests/helpers is its sys.path[0], not tests/): it finds the configs itself.
CONF = Path(__file__).resolve().parents[2] / "conf"


def main(preset: str, height: int, width: int, attention: str | None = None) -> None:
    torch.set_num_threads(2)
    overrides = [f"model={preset}", "model.max_disparity=192"]
    overrides += [f"model/attention={attention}"] if attention else []
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("network", overrides=overrides)
    network = build_network(OmegaConf.to_container(cfg.model, resolve=True), "").eval()
    left, right = torch.rand(1, 3, height, width), torch.rand(1, 3, height, width)
    with torch.inference_mode():
        network(left[..., :32, :32], right[..., :32, :32])  # one-off allocations (oneDNN, threads)
    before = current_rss_bytes()
    reset_peak_rss()  # the high-water mark of imports and set-up is not this pass's
    with torch.inference_mode():
        network(left, right)
    measured = peak_rss_bytes() - before
    print(json.dumps({"measured": measured, "estimated": inference_bytes(network, 1, height, width)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:5])
