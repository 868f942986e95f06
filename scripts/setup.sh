#!/usr/bin/env bash
# Creates .venv (once) and installs the project with its dev tools into it.
# torch is pinned to 2.13.0 on the same pip command line: on a CPU machine that
# resolves to the local CPU wheel instead of the newest CUDA build (gigabytes).
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[dev]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
