"""The attention ablation: its summary arithmetic, what it counts as finished, resuming, and the plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stereo_attn.bench.ablation import collect, run_folder, summarize, table
from stereo_attn.bench.ablation_report import run
from stereo_attn.bench.plot import PALETTE, Point, nice_ticks, scatter_panel
from stereo_attn.data.writers import write_json_atomic
from stereo_attn.options import OptionError

from helpers.training import TINY

ROOT = Path(__file__).resolve().parents[1]
SCORES = {  # variant -> per seed (EPE, bad-2) on one evaluation
    "none": [(2.0, 20.0), (2.2, 22.0), (2.1, 21.0)],
    "guided": [(1.8, 18.0), (1.9, 19.0), (1.7, 17.0)],
}


def fake_results() -> dict:
    runs = [
        {"variant": variant, "seed": seed, "test": {"epe": epe, "bad2": bad2}}
        for variant, scores in SCORES.items()
        for seed, (epe, bad2) in enumerate(scores)
    ]
    timing = {
        "none": {"inference_seconds": 1.0, "train_seconds_per_step": 0.3, "attention_share": 0.0},
        "guided": {"inference_seconds": 1.25, "train_seconds_per_step": 0.35, "attention_share": 0.1},
    }
    return {"runs": runs, "timing": timing, "seeds": [0, 1, 2], "evaluations": ["test"]}


def test_summary_gives_the_seeds_mean_sample_spread_and_change_against_none() -> None:
    rows = {row["variant"]: row for row in summarize(fake_results())}
    for variant, scores in SCORES.items():
        epe = np.array([s[0] for s in scores])
        mean, spread = rows[variant]["test/epe"]
        assert mean == pytest.approx(epe.mean()) and spread == pytest.approx(epe.std(ddof=1))
        assert rows[variant]["seeds"] == 3
    assert rows["guided"]["test/epe/change"] == pytest.approx(100 * (1.8 / 2.1 - 1))
    assert rows["guided"]["test/bad2/change"] == pytest.approx(100 * (18.0 / 21.0 - 1))
    assert rows["guided"]["inference_ratio"] == pytest.approx(1.25)
    text = table(list(rows.values()), ["test"])
    assert "| guided | 3 | 1.800 ± 0.100 (-14%) | 18.0 ± 1.0 (-14%) | 0.350 | 1.25 | 1.25 | 10 |" in text


def test_collect_counts_a_run_only_when_every_evaluation_is_scored(tmp_path: Path) -> None:
    for seed, names in enumerate([["a", "b"], ["a"], []]):
        for name in names:
            write_json_atomic(
                run_folder(tmp_path, "none", seed) / "eval" / f"{name}.json",
                {"model": {"epe": seed, "bad2": 1}},
            )
    results = collect(tmp_path, ["none", "guided"], [0, 1, 2], ["a", "b"], timing_settings=None)
    assert [(r["variant"], r["seed"]) for r in results["runs"]] == [("none", 0)]
    assert results["runs"][0]["b"] == {"epe": 0.0, "bad2": 1.0} and results["timing"] == {}


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    for low, high in [(0.7, 1.6), (1.75, 2.45), (12.0, 31.0), (0.001, 0.0042)]:
        ticks = nice_ticks(low, high)
        steps = np.diff(ticks)
        assert len(ticks) >= 2 and np.allclose(steps, steps[0])
        assert ticks[0] >= low - 1e-12 and ticks[-1] <= high + 1e-12 and ticks[0] - steps[0] < low
        mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
        assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-6


def test_scatter_panel_puts_each_point_in_its_colour_in_order() -> None:
    points = [Point("low", 0.0, 0.0), Point("high", 1.0, 1.0, 0.1)]
    image = scatter_panel(points, "title", "x")
    first = np.argwhere((image == PALETTE[0]).all(-1)).mean(0)
    second = np.argwhere((image == PALETTE[1]).all(-1)).mean(0)
    assert second[1] > first[1] and second[0] < first[0]  # right of and above the first point
    with pytest.raises(ValueError, match="at least one point"):
        scatter_panel([], "title", "x")


def settings(tmp_path: Path, data_root: Path) -> dict:
    tiny_eval = [o for o in TINY if o.startswith(("data.synthetic", "model.max"))]
    return {
        "data_root": str(data_root),
        "folder": str(tmp_path / "runs"),
        "seeds": [0],
        "only": None,
        "train": [*TINY, "logger=none"],
        "variants": {
            "none": ["model/attention=none"],
            "guided": ["model/attention=guided", "model.attention.key_channels=4"],
        },
        "evaluations": {"synthetic": ["data=synthetic", "limit=2", *tiny_eval[1:]]},
        "timing": {
            "inference_size": [48, 64],
            "train_crop": [32, 64],
            "batch_size": 1,
            "repeats": 1,
            "timeout_s": 300,
        },
        "output": str(tmp_path / "report" / "ablation.json"),
    }


@pytest.mark.slow
def test_ablation_trains_scores_times_and_resumes(tmp_path: Path) -> None:
    config = settings(tmp_path, tmp_path)
    rows = {row["variant"]: row for row in run(config)}
    assert set(rows) == {"none", "guided"}
    output = Path(config["output"])
    written = json.loads(output.read_text())
    assert [r["variant"] for r in written["runs"]] == ["none", "guided"]
    assert rows["none"]["inference_ratio"] == 1.0 and rows["guided"]["train_seconds_per_step"] > 0
    assert output.with_suffix(".md").read_text().startswith("| variant |")
    assert output.with_suffix(".png").stat().st_size > 0
    guided = run_folder(Path(config["folder"]), "guided", 0)
    evaluation = json.loads((guided / "eval" / "synthetic.json").read_text())["model"]
    assert written["runs"][1]["synthetic"]["epe"] == pytest.approx(evaluation["epe"])

    # A finished run is not trained again; one without its marker resumes from last.ckpt.
    log = (guided / "train.log").read_text()
    (guided / "trained.json").unlink()
    (guided / "eval" / "synthetic.json").unlink()
    run({**config, "only": ["guided"], "timing": None})
    resumed = (guided / "train.log").read_text()[len(log) :]
    assert resumed.count("$ ") == 1 and "ckpt_path=" in resumed
    assert json.loads((guided / "trained.json").read_text())["resumed"] is True
    assert (run_folder(Path(config["folder"]), "none", 0) / "train.log").read_text().count("$ ") == 1


def test_bad_settings_are_one_line_errors_before_any_training(tmp_path: Path) -> None:
    config = settings(tmp_path, tmp_path / "missing")
    with pytest.raises(OptionError, match=r"data_root=.*missing: not a folder"):
        run(config)
    with pytest.raises(OptionError, match=r"only: unknown variants \['soft'\]"):
        run({**settings(tmp_path, tmp_path), "only": ["soft"]})
    assert not (tmp_path / "runs").exists()


def test_script_reports_a_failed_training_with_its_log(tmp_path: Path) -> None:
    command = [
        sys.executable, str(ROOT / "scripts" / "ablate_attention.py"), f"data_root={tmp_path}",
        f"folder={tmp_path / 'runs'}", "seeds=[0]", "only=[none]", "train=['model.max_disparity=-3']",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    log = run_folder(tmp_path / "runs", "none", 0) / "train.log"
    reason = "error: model.max_disparity: -3 is not allowed; expected an integer >= 0"
    expected = f"error: training {log.parent} failed with exit code 1 ({reason}); see {log}"
    assert done.stderr.strip().splitlines()[-1] == expected
