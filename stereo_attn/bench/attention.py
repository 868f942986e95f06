"""Scaling benchmark of the attention blocks against a Conv3d yardstick.

Every (block, volume, mode) runs in a fresh process (``python -m stereo_attn.bench.attention SPEC``)
so that its peak memory is clean. The quadratic block is reported infeasible, with the bytes its
attention map would need, wherever that map exceeds its configured budget.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from stereo_attn.attention import GUIDED_BLOCKS, attention_map_bytes, build_attention
from stereo_attn.bench.measure import (
    current_rss_bytes,
    format_bytes,
    loglog_slope,
    median_seconds,
    peak_rss_bytes,
    reset_peak_rss,
)
from stereo_attn.bench.sweep import sweep
from stereo_attn.data.writers import markdown_table
from stereo_attn.options import dimensions

YARDSTICK = "conv3d"
MODES = ("forward", "forward_backward")


def build_block(name: str, channels: int, options: dict[str, Any]) -> nn.Module:
    """The block; a guided one reads image features of as many channels as the volume."""
    if name == YARDSTICK:
        return nn.Conv3d(channels, channels, kernel_size=3, padding=1)
    if name in GUIDED_BLOCKS:
        return build_attention(name, channels, guide_channels=channels, **options)
    return build_attention(name, channels, **options)


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Median time and peak memory of one block on one volume; run inside a fresh process.

    ``peak_bytes`` is the peak resident memory during the timed calls above the process's memory
    before the input was allocated, so it includes the input itself (and its gradient when training).
    """
    torch.manual_seed(0)
    channels = spec["shape"][1]
    block = build_block(spec["block"], channels, spec["options"])
    baseline = current_rss_bytes()
    x = torch.randn(spec["shape"])
    # A guided block's image features, (B, C, H, W); not counted in the input's bytes.
    inputs = [torch.randn(*spec["shape"][:2], *spec["shape"][-2:])] if spec["block"] in GUIDED_BLOCKS else []
    if spec["mode"] == "forward":
        block.eval()

        def step() -> None:
            with torch.inference_mode():
                block(x, *inputs)
    else:
        block.train()
        x.requires_grad_(True)

        def step() -> None:
            x.grad = None
            block.zero_grad(set_to_none=True)
            block(x, *inputs).sum().backward()

    for _ in range(spec["warmup"]):
        step()
    reset_peak_rss()
    seconds, all_seconds = median_seconds(step, spec["repeats"], warmup=0)
    return {
        "seconds": seconds,
        "seconds_all": all_seconds,
        "peak_bytes": peak_rss_bytes() - baseline,
        "input_bytes": x.numel() * x.element_size(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def run_benchmark(
    blocks: dict[str, dict[str, Any]],
    include: Sequence[str],
    channels: int,
    batch: int,
    volumes: Sequence[Sequence[int]],
    modes: Sequence[str],
    repeats: int,
    warmup: int,
    timeout_s: float,
) -> list[dict[str, Any]]:
    """Measure every included block on every volume in every mode; one record per configuration."""
    unknown = [name for name in include if name != YARDSTICK and name not in blocks]
    if unknown:
        raise ValueError(f"include names blocks without a config: {unknown}; configured: {sorted(blocks)}")
    bad_modes = [mode for mode in modes if mode not in MODES]
    if bad_modes:
        raise ValueError(f"modes must be among {MODES}, got {bad_modes}")
    for index, volume in enumerate(volumes):
        dimensions(volume, f"volumes[{index}]", ("depth", "height", "width"))
    configurations = []
    for name in include:
        options = {k: v for k, v in blocks.get(name, {}).items() if k != "name"}
        for volume in volumes:
            tokens = math.prod(volume)
            for mode in modes:
                record = {"block": name, "shape": [batch, channels, *volume], "tokens": tokens, "mode": mode}
                record["options"] = options
                if name == "dot_product":
                    record["bytes_needed"] = attention_map_bytes(batch, options.get("heads", 1), tokens)
                if record.get("bytes_needed", 0) > options.get("max_map_bytes", math.inf):
                    configurations.append(
                        ({**record, "feasible": False, "seconds": None, "peak_bytes": None}, None)
                    )
                else:
                    configurations.append((record, {**record, "repeats": repeats, "warmup": warmup}))
    records = sweep(configurations, __name__, timeout_s, progress_line)
    for record in records:  # a failed run has no figures
        record.setdefault("seconds", None)
        record.setdefault("peak_bytes", None)
    return records


def progress_line(record: dict[str, Any]) -> str:
    volume = "x".join(map(str, record["shape"][2:]))
    if record["feasible"]:
        outcome = f"{record['seconds']:.4g} s, peak {format_bytes(record['peak_bytes'])}"
    elif "error" in record:
        outcome = f"failed: {record['error']}"
    else:
        outcome = f"infeasible: map needs {format_bytes(record['bytes_needed'])}"
    return f"{record['block']:<12} {record['mode']:<17} {volume:<12} {outcome}"


def summarize(records: list[dict[str, Any]]) -> str:
    """Markdown: every record, log-log slopes of the linear blocks, and the targets at the largest volume."""
    rows = []
    for r in records:
        volume = "x".join(map(str, r["shape"][2:]))
        if r["feasible"]:
            ratio = (r["peak_bytes"] - r["input_bytes"]) / r["input_bytes"]
            cells = [f"{r['seconds']:.4g}", format_bytes(r["peak_bytes"]), f"{ratio:.2f}"]
        else:
            reason = r.get("error") or f"infeasible: map needs {r['bytes_needed']:.3g} B"
            cells = ["-", "-", reason]
        rows.append([r["block"], volume, f"{r['tokens']:,}", r["mode"], *cells])
    parts = [
        markdown_table(
            ["block", "volume", "tokens", "mode", "median s", "peak", "(peak - input) / input"], rows
        )
    ]

    slope_rows = []
    for name in dict.fromkeys(r["block"] for r in records):
        for mode in MODES:
            ok = [r for r in records if r["block"] == name and r["mode"] == mode and r["feasible"]]
            if len(ok) >= 2:
                tokens = [r["tokens"] for r in ok]
                time_slope = loglog_slope(tokens, [r["seconds"] for r in ok])
                memory_slope = loglog_slope(tokens, [r["peak_bytes"] for r in ok])
                slope_rows.append([name, mode, f"{time_slope:.2f}", f"{memory_slope:.2f}"])
    parts.append(markdown_table(["block", "mode", "time slope", "peak-memory slope"], slope_rows))

    largest = max(r["tokens"] for r in records)
    at_largest = {(r["block"], r["mode"]): r for r in records if r["tokens"] == largest}
    yardstick = at_largest.get((YARDSTICK, "forward"))
    target_rows = []
    for name in dict.fromkeys(r["block"] for r in records):
        forward = at_largest.get((name, "forward"))
        training = at_largest.get((name, "forward_backward"))
        if forward is None:
            continue
        versus = "-"
        if forward["feasible"] and yardstick and yardstick["feasible"]:
            versus = f"{forward['seconds'] / yardstick['seconds']:.2f}x"
        extra = "-"
        if forward["feasible"]:
            extra = f"{(forward['peak_bytes'] - forward['input_bytes']) / forward['input_bytes']:.2f}x"
        trained = "-" if training is None else ("yes" if training["feasible"] else "no")
        target_rows.append([name, versus, extra, trained])
    parts.append(
        f"At the largest volume ({largest:,} voxels):\n\n"
        + markdown_table(
            ["block", "forward time / conv3d", "(peak - input) / input", "forward+backward completes"],
            target_rows,
        )
    )
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
