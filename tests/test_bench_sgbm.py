"""StereoSGBM's best setting on real pairs: the sweep, its choice, and the script's outputs and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

from stereo_attn.bench.sgbm_settings import covering_range, run, sweep
from stereo_attn.data.readers.middlebury2006 import Middlebury2006
from stereo_attn.evaluation.sgbm import fill_holes, sgbm_disparity
from stereo_attn.options import OptionError

from helpers.datasets import write_middlebury2006_scene
from helpers.project import ROOT


@pytest.mark.parametrize(("largest", "expected"), [(70.0, 80), (64.0, 80), (15.5, 16), (0.0, 16)])
def test_the_search_range_is_the_next_multiple_of_16_above_the_truth(largest: float, expected: int) -> None:
    samples = [{"disparity": np.array([[0.0, largest]], np.float32)}, {"disparity": np.zeros((1, 2))}]
    assert covering_range(samples) == expected


def test_each_setting_is_scored_as_sgbm_with_it_scores_directly_and_the_best_is_the_minimum(
    tmp_path: Path,
) -> None:
    write_middlebury2006_scene(tmp_path, size=(48, 96))
    sizes = sweep(str(tmp_path), [1.0], [3, 7], [5, 15], [0], max_disparity=None)
    found = sizes["1/1"]
    assert found["max_disparity"] == 64  # the fixture's truth reaches 59
    sample = Middlebury2006(tmp_path)[0]
    for record in found["settings"]:
        setting = (record["block_size"], record["uniqueness"], record["speckle_window"])
        raw = sgbm_disparity(sample["left"], sample["right"], 64, *setting)
        errors = np.abs(fill_holes(raw) - sample["disparity"])[sample["valid"]]
        assert record["epe"] == pytest.approx(float(errors.mean()), rel=1e-5)
        assert record["bad2"] == pytest.approx(100 * float((errors > 2).mean()), rel=1e-5)
    # The four settings of the grid plus the project's default, which the grid does not hold.
    assert len(found["settings"]) == 5
    assert found["default"]["block_size"] == 5 and found["default"]["speckle_window"] == 100
    assert found["best_epe"]["epe"] == min(r["epe"] for r in found["settings"])
    assert found["best_bad2"]["bad2"] == min(r["bad2"] for r in found["settings"])


def test_the_script_prints_the_best_settings_per_size_and_writes_every_record(tmp_path: Path) -> None:
    output = tmp_path / "sgbm.json"
    command = [
        sys.executable, "scripts/bench_sgbm.py", f"output={output}", "scales=[0.1,0.125]",
        "block_sizes=[3,5]", "uniqueness_ratios=[10]", "speckle_windows=[100]",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    sizes = json.loads(output.read_text())["sizes"]
    assert list(sizes) == ["1/10", "1/8"] and all(len(s["settings"]) == 2 for s in sizes.values())
    for size in ("1/10", "1/8"):
        for label in ("best EPE", "best bad-2", "project default"):
            assert f"| {size} | {label} |" in done.stdout


def options(tmp_path: Path, **changes: object) -> DictConfig:
    settings = {
        "real_pair": str(ROOT / "data" / "real" / "aloe"), "scales": [0.1], "block_sizes": [3],
        "uniqueness_ratios": [10], "speckle_windows": [100], "max_disparity": None,
        "output": str(tmp_path / "b.json"),
    }  # fmt: skip
    return OmegaConf.create({**settings, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"block_sizes": [4]}, "block_sizes=[4]: StereoSGBM needs odd block sizes"),
        ({"scales": [0]}, "scales=[0]: expected a non-empty list of numbers in (0, 1]"),
        (
            {"speckle_windows": [-1]},
            "speckle_windows=[-1]: expected a non-empty list of non-negative integers",
        ),
        (
            {"uniqueness_ratios": []},
            "uniqueness_ratios=[]: expected a non-empty list of non-negative integers",
        ),
        ({"max_disparity": 8}, "max_disparity=8: expected null or an integer >= 16"),
        ({"real_pair": "/nonexistent"}, "real_pair=/nonexistent: not a folder of Middlebury 2006 pairs"),
        ({"output": "x.txt"}, "x.txt: expected the path of a .json file"),
    ],
)
def test_bad_options_are_refused_before_any_scoring(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(OptionError) as refused:
        run(options(tmp_path, **changes))
    assert message in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_the_script_reports_a_bad_option_in_one_line_and_exits_1(tmp_path: Path) -> None:
    command = [sys.executable, "scripts/bench_sgbm.py", f"output={tmp_path / 'b.json'}", "block_sizes=[4]"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: block_sizes=[4]: StereoSGBM needs odd block sizes"
    assert list(tmp_path.iterdir()) == []
