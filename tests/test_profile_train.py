"""The training-step profile: every phase timed, stages inside their pass, nothing counted twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stereo_attn.bench.profile import profile_training, summarize

from helpers.project import ROOT, compose_config
from helpers.training import TINY


def test_stages_add_up_to_no_more_than_their_pass_and_every_stage_is_seen(tmp_path: Path) -> None:
    cfg = compose_config("profile_train", *TINY, f"run_dir={tmp_path}")
    result = profile_training(cfg, steps=2, warmup=1)
    seconds = result["seconds"]
    for phase in ("forward", "backward"):
        parts = {k: v for k, v in seconds.items() if k.startswith(f"{phase}: ")}
        # Every stage of the default network, the 2D features' backward included (its input, the
        # images, needs no gradient, so it has no module backward hooks).
        assert {k.split(": ", 1)[1] for k in parts} == {
            "features (2D)", "3D stem", "attention at 1/4", "hourglasses (with any attention at 1/8, 1/16)",
            "heads", "upsampling",
        }  # fmt: skip
        assert all(v > 0 for v in parts.values()), parts
        assert sum(parts.values()) <= seconds[phase] * 1.02  # nested modules would be counted twice
    assert result["batch_size"] == 2 and result["crop"] == [32, 64] and result["attention"] == "efficient"
    lines = summarize(result).splitlines()
    assert lines[-1].startswith("| step |") and any(line.startswith("|   other |") for line in lines)


def test_the_script_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    output = tmp_path / "profile.json"
    command = [sys.executable, "scripts/profile_train.py", *TINY, f"output={output}", "steps=1", "warmup=0"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(output.read_text())["steps"] == 1 and "| data (waiting for the loader) |" in done.stdout
