"""The training-throughput benchmark's JSON records."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stereo_attn.bench.training import run_benchmark
from stereo_attn.options import OptionError
from stereo_attn.training.precision import resolve_precision

from helpers.project import ROOT


def test_bench_train_writes_one_record_per_configuration(tmp_path: Path) -> None:
    output = tmp_path / "bench_train.json"
    command = [
        sys.executable, "scripts/bench_train.py", f"output={output}", f"hydra.run.dir={tmp_path}",
        "models.small.max_disparity=32", "precisions=[32-true,bf16-mixed]", "~attentions.soft",
        "crop=[32,64]", "batch_size=2", "steps=2", "warmup=1", "device=cpu",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    records = json.loads(output.read_text())
    # First the configuration train.py uses with no overrides, at its own crop, batch and precision
    # (trainer.precision=auto, resolved for this CPU).
    default_precision = resolve_precision("auto", "cpu")
    assert [(r["preset"], r["attention"], r["precision"]) for r in records] == [
        ("default", "efficient", default_precision),
        ("small", "efficient", "32-true"),
        ("small", "efficient", "bf16-mixed"),
    ]
    assert (records[0]["batch_size"], records[0]["height"], records[0]["width"]) == (4, 128, 256)
    for record in records:
        assert record["feasible"] and record["device"] == "cpu"
        assert record["samples_per_second"] == record["batch_size"] / record["seconds_per_step"] > 0
        assert record["peak_bytes"] > 0 and len(record["seconds_all"]) == 2
        assert record["compiled"] is False and record["warmup_seconds"] > 0
    assert f"| default | efficient | {default_precision} | eager | cpu | 4x128x256 |" in done.stdout
    assert "| small | efficient | bf16-mixed | eager | cpu | 2x32x64 |" in done.stdout


def test_bench_train_measures_each_configuration_eager_then_compiled(tmp_path: Path) -> None:
    # Dynamo's "eager" backend traces without generating C++, so the test needs no compiler and little time.
    output = tmp_path / "bench_train.json"
    command = [
        sys.executable, "scripts/bench_train.py", f"output={output}", f"hydra.run.dir={tmp_path}",
        "default_row=false", "models.small.max_disparity=32", "precisions=[32-true]", "~attentions.soft",
        "crop=[32,64]", "batch_size=2", "steps=1", "warmup=1", "device=cpu",
        "compile=[false,true]", "compile_options.backend=eager",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    records = json.loads(output.read_text())
    assert [(r["preset"], r["compiled"], r["network_compiled"], r["feasible"]) for r in records] == [
        ("small", False, False, True),
        ("small", True, True, True),
    ]
    assert "| small | efficient | 32-true | compiled | cpu | 2x32x64 |" in done.stdout


@pytest.mark.parametrize(
    ("crop", "message"),
    [([10], "crop=[10]: expected [height, width]"), ([0, 10], "crop height=0: expected an integer >= 1")],
)
def test_bench_train_refuses_a_crop_that_is_not_height_and_width(crop: list, message: str) -> None:
    with pytest.raises(OptionError, match=re.escape(message)):
        run_benchmark(
            models={}, attentions={}, precisions=[], device="cpu", crop=crop, batch_size=1, steps=1,
            warmup=1, timeout_s=10, default_row=False,
        )  # fmt: skip


@pytest.mark.parametrize("compile_modes", [[], ["yes"]])
def test_bench_train_refuses_a_compile_list_that_is_not_true_or_false(compile_modes: list) -> None:
    with pytest.raises(OptionError, match=r"expected a non-empty list of true/false"):
        run_benchmark(
            models={}, attentions={}, precisions=[], device="cpu", crop=[32, 64], batch_size=1, steps=1,
            warmup=1, timeout_s=10, default_row=False, compile=compile_modes,
        )  # fmt: skip
