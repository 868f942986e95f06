"""The whole-model benchmark's JSON contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stereo_attn.bench.model import run_benchmark
from stereo_attn.options import OptionError

from helpers.project import ROOT


def test_bench_model_writes_the_json_contract(tmp_path: Path) -> None:
    output = tmp_path / "bench_model.json"
    command = [
        sys.executable, "scripts/bench_model.py", f"output={output}", f"hydra.run.dir={tmp_path}",
        "~models.base", "~attentions.soft", "~attentions.soft_lean", "~attentions.polynl",
        "sizes=[[32,48]]", "repeats=1", "warmup=0",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    records = json.loads(output.read_text())
    expected = [("small", "efficient"), ("small", "none"), ("shipped", "checkpoint")]
    assert [(r["preset"], r["attention"]) for r in records] == expected
    for record in records:
        assert {
            "preset",
            "attention",
            "height",
            "width",
            "params",
            "seconds",
            "peak_bytes",
            "attention_share",
        } <= (record.keys())
        assert (record["height"], record["width"]) == (32, 48)
        assert record["params"] > 0 and record["seconds"] > 0 and record["peak_bytes"] > 0
    efficient, none, shipped = records
    assert 0 < efficient["attention_share"] < 1 and none["attention_share"] == 0
    assert efficient["params"] > none["params"]  # the block's parameters are counted
    assert shipped["params"] == efficient["params"] and 0 < shipped["attention_share"] < 1  # small, efficient


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([[544]], "sizes[0]=[544]: expected [height, width]"),
        ([[64, 64], [0, 10]], "sizes[1] height=0: expected an integer >= 32"),
        ([[64, 16]], "sizes[0] width=16: expected an integer >= 32"),
    ],
)
def test_sizes_that_are_not_images_are_one_line_before_any_run(sizes: list, message: str) -> None:
    with pytest.raises(OptionError, match=re.escape(message)):
        run_benchmark(models={}, attentions={}, sizes=sizes, repeats=1, warmup=0, timeout_s=1)
