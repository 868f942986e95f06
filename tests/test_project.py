"""Project hygiene: README's two commands, CI running the same test command, and ruff."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.project import ROOT


def quick_start_commands() -> list[str]:
    """The commands in the first code block of README.md, comments stripped."""
    block = re.search(r"```(?:bash|sh)\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block, "README.md has no bash code block"
    lines = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def test_readme_starts_with_exactly_two_commands() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all(command.startswith("bash scripts/setup.sh && ") for command in commands)


def test_ci_runs_the_readme_test_command() -> None:
    test_command = quick_start_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_setup_pins_torch_so_cpu_machines_get_no_cuda_packages() -> None:
    assert '"torch==2.13.0"' in (ROOT / "scripts" / "setup.sh").read_text()


def test_ruff_is_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is installed by the dev extra")
    done = subprocess.run([str(ruff), "check", str(ROOT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
