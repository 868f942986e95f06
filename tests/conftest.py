"""Every test starts from the same torch seed; the shipped checkpoint exported to ONNX once per session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.project import ROOT


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def shipped_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``scripts/export.py``'s graph of the shipped checkpoint and what the script printed."""
    path = tmp_path_factory.mktemp("onnx") / "shipped.onnx"
    command = [sys.executable, "scripts/export.py", f"output={path}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return path, done.stdout
