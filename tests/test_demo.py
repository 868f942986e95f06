"""The README's first command: the demo runs end to end and says where its outputs are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2

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
    # The shipped real pair at every default size, model next to StereoSGBM, one picture per size.
    real = json.loads((tmp_path / "real_pair" / "evaluation.json").read_text())
    assert list(real) == ["1/2", "1/3", "1/4"]
    for size, by_method in real.items():
        assert set(by_method) == {"model", "StereoSGBM"} and by_method["model"]["images"] == 1
        assert 0 < by_method["model"]["epe"] < 20, size  # a real prediction, not a failed one
        assert by_method["model"]["region"] == "all"
    pictures = sorted(p.name for p in (tmp_path / "real_pair").glob("*.png"))
    assert pictures == ["aloe_1-2.png", "aloe_1-3.png", "aloe_1-4.png"]
    left = cv2.imread(str(ROOT / "data" / "real" / "aloe" / "aloeL.jpg"))
    picture = cv2.imread(str(tmp_path / "real_pair" / "aloe_1-2.png"))
    assert picture.shape[1] == 3 * round(left.shape[1] / 2)  # left/truth, model, StereoSGBM
    assert "| 1/3 |" in done.stdout
