"""Slow: the network can fit one synthetic batch (the whole pipeline learns, attention included)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stereo_attn.data.sample import to_tensors
from stereo_attn.data.synthetic.scenes import SyntheticConfig, SyntheticStereo
from stereo_attn.model import StereoNetwork

MAX_DISPARITY = 48


def one_batch() -> dict:
    config = SyntheticConfig(height=64, width=128, max_disparity=40.0, min_objects=3, max_objects=6)
    dataset = SyntheticStereo("train", 2, seed=1, config=config, transform=to_tensors)
    return torch.utils.data.default_collate([dataset[0], dataset[1]])


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["efficient", "soft"])
def test_overfits_one_batch(attention: str) -> None:
    torch.manual_seed(0)
    net = StereoNetwork(
        max_disparity=MAX_DISPARITY,
        features={"channels": [16, 16, 32], "blocks": 1},
        groups=8,
        aggregation={"channels": 16, "hourglasses": 1},
        attention={"name": attention},
        upsample_hidden=16,
    )
    batch = one_batch()
    mask = batch["valid"] & (batch["disparity"] < MAX_DISPARITY)
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3)

    def epe() -> float:
        net.eval()
        with torch.no_grad():
            prediction = net(batch["left"], batch["right"])["disparity"]
        net.train()
        return float((prediction - batch["disparity"]).abs()[mask].mean())

    start = epe()
    for _ in range(300):
        outputs = net(batch["left"], batch["right"])["disparities"]
        weights = [0.5, 1.0][-len(outputs) :]
        loss = sum(
            w * F.smooth_l1_loss(d[mask], batch["disparity"][mask])
            for w, d in zip(weights, outputs, strict=True)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert epe() < start / 5, (start, epe())
