"""scripts/bench_synthetic.py: generator speed, StereoSGBM's scores and the preview, for both generators."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
import torch

from stereo_attn.bench.synthetic import run

from helpers.project import compose_config

TINY = [
    "speed.height=32", "speed.width=64", "speed.pairs=2", "speed.rounds=2", "sgbm.pairs=2",
    "data.synthetic.generator.height=48", "data.synthetic.generator.width=96",
    "data.synthetic.generator.max_disparity=24", "preview_pairs=2",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_threads():
    """The speed benchmark pins torch and OpenCV to one thread, as in a DataLoader worker; later tests in
    this process (resume tests compare against a subprocess) need the defaults back."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


@pytest.mark.parametrize(("data", "scale"), [("synthetic", 0.5), ("world", 1.0)])
def test_the_benchmark_writes_speed_sgbm_scores_and_a_preview(
    data: str, scale: float, tmp_path: Path
) -> None:
    output, preview = tmp_path / "bench.json", tmp_path / "preview.png"
    run(compose_config("bench_synthetic", f"data={data}", *TINY, f"output={output}", f"preview={preview}",
                       f"preview_scale={scale}"))  # fmt: skip
    result = json.loads(output.read_text())
    assert len(result["speed"]["pairs_per_second_rounds"]) == 2 and result["speed"]["pairs_per_second"] > 0
    assert result["sgbm"]["pairs"] == 2 and 0 < result["sgbm"]["all_epe"] < 24
    assert 0 < result["sgbm"]["density"] <= 1
    # Two rows of left | right | disparity, each 48x96, at the preview's scale.
    assert cv2.imread(str(preview)).shape[:2] == (round(2 * 48 * scale), round(3 * 96 * scale))


def test_a_bad_preview_scale_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="preview_scale=0: expected a finite number > 0"):
        run(compose_config("bench_synthetic", *TINY, f"output={tmp_path / 'b.json'}", "preview_scale=0"))
