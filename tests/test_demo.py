"""The README's first command: the demo runs end to end and says where its outputs are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers.project import ROOT


def test_demo_generates_evaluates_and_infers(tmp_path: Path) -> None:
    command = [sys.executable, "scripts/demo.py", "pairs=3", "infer_pairs=2", f"output_dir={tmp_path}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = json.loads((tmp_path / "evaluation.json").read_text())
    assert set(summaries) == {"model", "StereoSGBM"} and summaries["model"]["images"] == 3
    names = sorted(p.name for p in (tmp_path / "inference").iterdir())
    for stem in ("0000", "0001"):
        assert {f"{stem}.pfm", f"{stem}_color.png", f"{stem}_depth.pfm", f"{stem}.ply"} <= set(names)
    assert f"outputs in {tmp_path}" in done.stdout
