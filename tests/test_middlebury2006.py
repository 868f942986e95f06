"""The Middlebury 2006 reader (OpenCV's sample layout) and the real Aloe pair that ships in data/real/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stereo_attn.data.readers.base import DatasetLayoutError
from stereo_attn.data.readers.middlebury2006 import Middlebury2006

from helpers.datasets import write_middlebury2006_scene
from helpers.project import ROOT

ALOE = ROOT / "data" / "real" / "aloe"


def test_reads_a_pair_at_full_size(tmp_path: Path) -> None:
    truth = write_middlebury2006_scene(tmp_path)
    sample = Middlebury2006(tmp_path)[0]
    np.testing.assert_array_equal(sample["disparity"], np.where(truth > 0, truth, 0).astype(np.float32))
    np.testing.assert_array_equal(sample["valid"], truth > 0)
    assert sample["meta"]["name"] == "toy" and sample["left"].shape == (30, 45, 3)


def test_a_scaled_pair_is_area_resized_views_and_nearest_disparity_times_the_scale(tmp_path: Path) -> None:
    truth = write_middlebury2006_scene(tmp_path)
    sample = Middlebury2006(tmp_path, scale=1 / 3)[0]
    left = cv2.imread(str(tmp_path / "toyL.png"))[..., ::-1].astype(np.float32) / 255
    expected_left = cv2.resize(left, (15, 10), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(sample["left"], expected_left, atol=1e-6)
    expected = cv2.resize(truth, (15, 10), interpolation=cv2.INTER_NEAREST).astype(np.float32) / 3
    np.testing.assert_allclose(sample["disparity"], np.where(expected > 0, expected, 0), rtol=1e-6)
    np.testing.assert_array_equal(sample["valid"], expected > 0)


@pytest.mark.parametrize("scale", [0, 1.5, True, "half"])
def test_a_scale_outside_zero_to_one_is_an_error(tmp_path: Path, scale) -> None:
    write_middlebury2006_scene(tmp_path)
    with pytest.raises(ValueError, match="expected a number in \\(0, 1\\]"):
        Middlebury2006(tmp_path, scale=scale)


def test_a_folder_without_pairs_names_the_layout(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetLayoutError, match=r"<scene>L\.jpg") as error:
        Middlebury2006(tmp_path)
    assert "\n" not in str(error.value)


def test_a_ground_truth_of_another_size_names_the_file(tmp_path: Path) -> None:
    write_middlebury2006_scene(tmp_path)
    cv2.imwrite(str(tmp_path / "toyGT.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"toyGT\.png: size 8x8 does not match"):
        Middlebury2006(tmp_path)[0]


def test_the_shipped_aloe_pair_reads_at_its_documented_sizes() -> None:
    for scale, (height, width), largest in ((1 / 2, (555, 641), 105.5), (1 / 3, (370, 427), 70.4)):
        sample = Middlebury2006(ALOE, scale=scale)[0]
        assert sample["left"].shape == (height, width, 3)
        assert sample["disparity"].max() == pytest.approx(largest, abs=0.1)
        assert 0.95 < sample["valid"].mean() < 0.98  # 3.5% unknown


def test_evaluate_scores_the_shipped_checkpoint_and_sgbm_on_aloe(tmp_path: Path) -> None:
    output = tmp_path / "aloe.json"
    command = [
        sys.executable, "scripts/evaluate.py", "data=aloe", "data.test.0.scale=0.25", "baseline=sgbm",
        f"output={output}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(output.read_text())
    for summary in result.values():
        assert summary["images"] == 1 and summary["data"] == "aloe"
        # Both methods match most of a real scene: far better than the 40 px of a constant guess.
        assert 0.3 < summary["epe"] < 5 and summary["bad2"] < 40
