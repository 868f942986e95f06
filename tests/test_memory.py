"""The inference memory estimate bounds the measured peak, and too-large inputs are refused up front."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.data.io import write_image
from stereo_attn.inference import predict as inference_predict
from stereo_attn.inference.pairs import Pair
from stereo_attn.inference.predict import MemoryBudgetError, check_memory
from stereo_attn.inference.run import infer
from stereo_attn.model.memory import FIXED_BYTES, available_bytes, inference_bytes, largest_fitting

from helpers.project import ROOT, SHIPPED_CHECKPOINT


# SOFT keeps its kernels between passes at inference (201 MB here): the estimate must count them.
@pytest.mark.parametrize(
    ("preset", "attention"),
    [("small", "efficient"), ("small", "soft"), pytest.param("base", "efficient", marks=pytest.mark.slow)],
)
def test_estimate_bounds_the_measured_peak_without_wasting_much(preset: str, attention: str) -> None:
    done = subprocess.run(
        [sys.executable, "tests/helpers/memory_probe.py", preset, "256", "512", attention],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    record = json.loads(done.stdout.strip().splitlines()[-1])
    # measured: the pass's peak resident memory (VmHWM, reset before it) above the memory before it.
    assert record["measured"] <= record["estimated"] <= 2.5 * record["measured"], record


def test_estimate_is_linear_in_pixels_batch_and_disparity_bins() -> None:
    network = network_from_checkpoint(SHIPPED_CHECKPOINT)
    one = inference_bytes(network, 1, 256, 512) - FIXED_BYTES
    assert inference_bytes(network, 2, 256, 512) - FIXED_BYTES == 2 * one
    assert inference_bytes(network, 1, 512, 1024) - FIXED_BYTES == 4 * one
    assert inference_bytes(network, 1, 250, 500) - FIXED_BYTES == one  # padded to multiples of 16 first
    half = network_from_checkpoint(SHIPPED_CHECKPOINT, max_disparity=48)
    assert inference_bytes(half, 1, 256, 512) - FIXED_BYTES < one


def test_the_size_offered_fits_and_a_step_larger_does_not() -> None:
    network = network_from_checkpoint(SHIPPED_CHECKPOINT)
    budget = 200 * 2**20
    height, width = largest_fitting(network, 1, 6000, 8000, budget)
    assert height % 16 == 0 and width % 16 == 0 and abs(width / height - 8000 / 6000) < 0.02
    assert inference_bytes(network, 1, height, width) <= budget
    assert inference_bytes(network, 1, height + 16, width + 16) > budget
    assert largest_fitting(network, 1, 6000, 8000, 1) == (0, 0)


def test_the_machine_reports_its_free_memory() -> None:
    free = available_bytes(torch.device("cpu"))
    assert free is None or 0 < free < 2**50


def test_a_pair_too_large_for_the_memory_is_refused_before_writing(tmp_path: Path, monkeypatch) -> None:
    image = np.random.default_rng(0).random((544, 960, 3)).astype(np.float32)
    for name in ("l.png", "r.png"):
        write_image(tmp_path / name, image)
    monkeypatch.setattr(inference_predict, "available_bytes", lambda device: 256 * 2**20)
    network = network_from_checkpoint(SHIPPED_CHECKPOINT)
    with pytest.raises(
        MemoryBudgetError,
        match=r"a 960x544 pair needs about 0\.5 GiB .* 0\.2 GiB free; about \d+x\d+ would fit",
    ):
        check_memory(network, [(544, 960)], 1, torch.device("cpu"))
    # Batches count: two pairs of one size in one batch need twice the memory.
    monkeypatch.setattr(inference_predict, "available_bytes", lambda device: 600 * 2**20)
    check_memory(network, [(544, 960)] * 2, 1, torch.device("cpu"))
    with pytest.raises(MemoryBudgetError, match=r"batch 2\).* use batch_size=1"):
        check_memory(network, [(544, 960)] * 2, 2, torch.device("cpu"))
    monkeypatch.setattr(inference_predict, "available_bytes", lambda device: 256 * 2**20)
    out = tmp_path / "out"
    with pytest.raises(MemoryBudgetError):
        infer([Pair(tmp_path / "l.png", tmp_path / "r.png")], out, SHIPPED_CHECKPOINT, progress=False)
    assert not out.exists()
