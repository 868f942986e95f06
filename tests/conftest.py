"""Every test starts from the same torch seed; the shipped checkpoint exported to ONNX once per run.

The suite runs in pytest-xdist workers (README: ``-n auto --dist loadfile``), one file per worker
at a time, and also without xdist.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from helpers.project import ROOT

XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if XDIST_WORKER:
    # One worker per core: one thread each, for the scripts the tests start as well; two OpenMP
    # threads per worker would spin against the other worker's.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def shipped_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``scripts/export.py``'s graph of the shipped checkpoint and what the script printed.

    The export takes about a minute; xdist workers share one (the folder above each worker's own
    temporary folder is the run's), the first to ask writes it under a lock.
    """
    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if XDIST_WORKER else shared
    path, printed = shared / "shipped_onnx" / "shipped.onnx", shared / "shipped_onnx" / "stdout.txt"
    with FileLock(shared / "shipped_onnx.lock"):
        if not printed.is_file():
            path.parent.mkdir(exist_ok=True)
            command = [sys.executable, "scripts/export.py", f"output={path}"]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
            assert done.returncode == 0, done.stderr[-3000:]
            printed.write_text(done.stdout)
    return path, printed.read_text()
