"""The scaling benchmark: its JSON contract, the infeasible quadratic row, and its summaries."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stereo_attn.bench.attention import run_benchmark, summarize
from stereo_attn.bench.measure import loglog_slope, run_isolated
from stereo_attn.options import OptionError

from helpers.project import ROOT


def test_benchmark_script_writes_the_json_contract(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    command = [
        sys.executable, "scripts/bench_attention.py", f"output={output}", f"hydra.run.dir={tmp_path}",
        "include=[conv3d,efficient,guided,dot_product]", "volumes=[[2,4,4],[4,8,8]]",
        "modes=[forward,forward_backward]", "repeats=1", "warmup=0",
        "blocks.dot_product.max_map_bytes=100000",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    records = json.loads(output.read_text())
    assert len(records) == 4 * 2 * 2
    for record in records:
        assert {"block", "shape", "tokens", "mode", "seconds", "peak_bytes", "feasible"} <= record.keys()
        assert record["tokens"] == math.prod(record["shape"][2:])
        assert record["shape"][:2] == [1, 32]
    feasible = [r for r in records if r["feasible"]]
    assert all(r["seconds"] > 0 and r["peak_bytes"] > 0 for r in feasible)
    infeasible = [r for r in records if not r["feasible"]]
    # 256 voxels: a 256 x 256 fp32 map is 262,144 bytes, above the 100,000-byte budget.
    assert [(r["block"], r["tokens"], r["bytes_needed"]) for r in infeasible] == [
        ("dot_product", 256, 262144)
    ] * 2
    assert "| block | volume |" in done.stdout and "infeasible" in done.stdout


def test_a_crashing_configuration_is_reported_not_raised() -> None:
    result = run_isolated("stereo_attn.no_such_module", {}, timeout_s=60)
    assert "error" in result and "exit code 1" in result["error"]


def test_loglog_slope_recovers_power_laws() -> None:
    tokens = [1e3, 1e4, 1e5]
    assert loglog_slope(tokens, [3 * t for t in tokens]) == pytest.approx(1.0)
    assert loglog_slope(tokens, [t**2 for t in tokens]) == pytest.approx(2.0)


def test_summary_compares_each_block_with_the_yardstick_at_the_largest_volume() -> None:
    def record(block: str, tokens: int, seconds: float, peak: int) -> dict:
        shape = [1, 32, 1, 1, tokens]
        return {"block": block, "shape": shape, "tokens": tokens, "mode": "forward", "feasible": True,
                "seconds": seconds, "peak_bytes": peak, "input_bytes": tokens * 128}  # fmt: skip

    records = [record("conv3d", 100, 0.1, 25600), record("conv3d", 1000, 2.0, 384000)]
    records += [record("efficient", 100, 0.01, 12800), record("efficient", 1000, 1.0, 256000)]
    text = summarize(records)
    assert "| efficient | 0.50x | 1.00x | - |" in text  # 1.0 s / 2.0 s; (256000 - 128000) / 128000
    assert "| efficient | forward | 2.00 | 1.30 |" in text


@pytest.mark.parametrize(
    ("volumes", "message"),
    [
        ([[1, 2]], "volumes[0]=[1, 2]: expected [depth, height, width]"),
        ([[2, 4, 4], [1, 0, 2]], "volumes[1] height=0: expected an integer >= 1"),
    ],
)
def test_volumes_that_are_not_three_sides_are_one_line(volumes: list, message: str) -> None:
    with pytest.raises(OptionError, match=re.escape(message)):
        run_benchmark(
            blocks={}, include=["conv3d"], channels=8, batch=1, volumes=volumes, modes=["forward"],
            repeats=1, warmup=0, timeout_s=1,
        )  # fmt: skip
