"""Measuring one configuration: wall time, peak resident memory, and a fresh process per configuration.

Each configuration runs in a fresh Python process so its peak memory is its own: CPU peaks are read
from the kernel's resident-set high-water mark (VmHWM), reset just before the measured calls.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")


def _status_bytes(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in {_STATUS}")


def current_rss_bytes() -> int:
    """Resident memory of this process now."""
    return _status_bytes("VmRSS")


def reset_peak_rss() -> None:
    """Restart the peak-RSS high-water mark at the current RSS (Linux clear_refs, value 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_bytes() -> int:
    """Peak resident memory since the last reset_peak_rss()."""
    return _status_bytes("VmHWM")


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def run_isolated(module: str, spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run ``python -m module '<spec json>'`` in a fresh process and parse the JSON on its last stdout line.

    A crash, a timeout or an out-of-memory kill comes back as ``{"error": ...}`` instead of raising,
    so one configuration that does not fit cannot stop the sweep.
    """
    command = [sys.executable, "-m", module, json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = "killed (out of memory?)" if done.returncode in (-9, 137) else f"exit code {done.returncode}"
        tail = done.stderr.strip().splitlines()[-1:] or [""]
        return {"error": f"{reason}: {tail[0]}".rstrip(": ")}
    return json.loads(lines[-1])


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x): 1 means linear growth."""
    if len(xs) < 2:
        return math.nan
    lx = [math.log(x) for x in xs]
    ly = [math.log(max(y, 1e-12)) for y in ys]
    mean_x, mean_y = statistics.fmean(lx), statistics.fmean(ly)
    spread = sum((x - mean_x) ** 2 for x in lx)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(lx, ly, strict=True)) / spread


def format_bytes(count: float | None) -> str:
    """``1536`` -> ``1.5 KiB``; None -> ``-``."""
    if count is None:
        return "-"
    if abs(count) < 1024:
        return f"{count:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        count /= 1024
        if abs(count) < 1024:
            return f"{count:.1f} {unit}"
    return f"{count / 1024:.1f} TiB"
