"""Evaluation: benchmark protocols, the JSON/CSV contract, the SGBM baseline, and bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stereo_attn.evaluation.evaluate import evaluate
from stereo_attn.evaluation.protocols import PROTOCOLS, regions
from stereo_attn.evaluation.sgbm import sgbm_disparity

from helpers.datasets import fixture_root
from helpers.project import ROOT
from helpers.wandb_runs import history, offline_wandb_environment


def sample(disparity: np.ndarray, valid: np.ndarray, valid_noc: np.ndarray) -> dict:
    image = np.zeros((*disparity.shape, 3), np.float32)
    return {"left": image, "right": image, "disparity": disparity, "valid": valid, "valid_noc": valid_noc}


@pytest.mark.parametrize("width", [12, 40])
def test_sgbm_runs_on_images_narrower_than_its_search_range(width: int) -> None:
    left = np.random.default_rng(0).random((20, width, 3)).astype(np.float32)
    assert sgbm_disparity(left, np.roll(left, -3, axis=1), max_disparity=96).shape == (20, width)


def test_protocols_choose_regions_and_range() -> None:
    disparity = np.array([[10.0, 200.0, 50.0, 0.0]])
    valid = np.array([[True, True, True, False]])
    noc = np.array([[True, False, True, False]])
    s = sample(disparity, valid, noc)
    # Scene Flow counts 0 < gt < 192 only; KITTI counts every pixel with ground truth.
    assert regions(s, PROTOCOLS["sceneflow"], 192)["all"].tolist() == [[True, False, True, False]]
    assert regions(s, PROTOCOLS["kitti2015"], 192)["all"].tolist() == [[True, True, True, False]]
    assert PROTOCOLS["middlebury"].headline == PROTOCOLS["eth3d"].headline == "noc"


def test_summary_is_pixel_weighted_over_the_headline_region() -> None:
    disparity = np.full((2, 2), 10.0)
    valid = np.ones((2, 2), bool)
    noc = np.array([[True, True], [False, False]])
    predictions = iter([np.array([[11.0, 10.0], [14.0, 14.0]]), np.array([[10.0, 10.0], [10.0, 10.0]])])
    rows, summaries = evaluate(
        [sample(disparity, valid, noc), sample(disparity, valid, noc)],
        {"model": lambda left, right: next(predictions)},
        PROTOCOLS["middlebury"],
        max_disparity=192,
    )
    # noc pixels: first image errors 1, 0; second 0, 0 -> EPE 0.25; all pixels: (1 + 4 + 4) / 8
    assert summaries["model"]["epe"] == pytest.approx(0.25) and summaries["model"][
        "noc_epe"
    ] == pytest.approx(0.25)
    assert summaries["model"]["all_epe"] == pytest.approx(9 / 8)
    assert summaries["model"]["bad2"] == 0 and summaries["model"]["all_bad3"] == pytest.approx(25.0)
    assert summaries["model"]["images"] == 2 and [r["model_epe"] for r in rows] == [0.5, 0.0]


def run_evaluate(*arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "scripts/evaluate.py", *arguments]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_evaluates_the_shipped_checkpoint_on_written_pairs_against_sgbm(tmp_path: Path) -> None:
    root = tmp_path / "pairs"
    make = [
        sys.executable,
        "scripts/make_synthetic.py",
        f"root={root}",
        "count=3",
        f"hydra.run.dir={tmp_path}/m",
    ]
    made = subprocess.run(make, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stderr
    output = tmp_path / "result.json"
    done = run_evaluate(
        "data=synthetic",
        f"data.root={root}",
        "baseline=sgbm",
        f"output={output}",
        f"hydra.run.dir={tmp_path}/ev",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    assert set(result) == {"model", "baseline"}
    for summary in result.values():
        assert {"epe", "bad1", "bad2", "bad3", "d1", "images"} <= summary.keys() and summary["images"] == 3
        assert 0 < summary["epe"] < 80 and 0 <= summary["bad2"] <= 100
    rows = list(csv.DictReader(output.with_suffix(".csv").open()))
    assert len(rows) == 3 and {"name", "model_epe", "baseline_epe"} <= rows[0].keys()
    # The summary is pixel-weighted: every pair has the same pixel count here, so it is the mean of rows.
    assert result["model"]["epe"] == pytest.approx(np.mean([float(r["model_epe"]) for r in rows]))
    assert "StereoSGBM" in done.stdout


def test_wandb_logging_holds_the_summary_and_the_worst_images(tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    environment = {**os.environ, **offline_wandb_environment(tmp_path / "wandb_home")}
    command = [
        sys.executable,
        "scripts/evaluate.py",
        "limit=3",
        "wandb=true",
        "worst_images=2",
        f"output={output}",
    ]
    done = subprocess.run(
        [*command, f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_file,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    (row,) = [row for row in history(run_file, {"model/epe"}) if "model/epe" in row]
    assert row["model/epe"] == pytest.approx(json.loads(output.read_text())["model"]["epe"])
    assert row["worst/count"] == 2 and (run_file.parent / "files" / row["worst/filenames"][0]).is_file()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["checkpoint=/nowhere/model.ckpt"], "/nowhere/model.ckpt: checkpoint not found"),
        (["data=kitti2015"], "dataset 'kitti2015' has no root"),
        (["data=sceneflow", "data.root=/nowhere/SceneFlow"], "/nowhere/SceneFlow"),
    ],
)
def test_bad_input_fails_with_one_line(arguments: list[str], message: str, tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    done = run_evaluate(*arguments, f"output={output}", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr
    assert not output.exists()


@pytest.mark.parametrize("name", ["sceneflow", "kitti2015", "kitti2012", "middlebury", "eth3d"])
def test_every_benchmark_evaluates_under_its_protocol(name: str, tmp_path: Path) -> None:
    root = fixture_root(name, tmp_path / name)
    output = tmp_path / "result.json"
    done = run_evaluate(
        f"data={name}", f"data.root={root}", "baseline=sgbm", f"output={output}", f"hydra.run.dir={tmp_path}"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    expected_region = "noc" if name in ("middlebury", "eth3d") else "all"
    for summary in result.values():
        assert summary["region"] == expected_region and summary["images"] > 0
        assert summary["epe"] == summary[f"{expected_region}_epe"] and np.isfinite(summary["epe"])
