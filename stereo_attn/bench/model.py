"""Whole-model benchmark: parameters, inference time, peak memory and the attention blocks' share.

Every (preset, attention, size) runs in a fresh process (``python -m stereo_attn.bench.model SPEC``)
so its peak memory is its own. The share of time spent in attention blocks is timed with forward hooks
around them, inside the same timed calls.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stereo_attn.bench.measure import (
    current_rss_bytes,
    format_bytes,
    peak_rss_bytes,
    reset_peak_rss,
)
from stereo_attn.bench.sweep import sweep
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.data.writers import markdown_table
from stereo_attn.inference.pairs import MIN_IMAGE_SIDE
from stereo_attn.model.spec import build_network
from stereo_attn.options import dimensions


def _time_attention(model: nn.Module) -> list[float]:
    """Hooks that add the seconds spent in each attention block to the returned one-element list."""
    spent = [0.0]
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1].startswith("attention_") and not isinstance(module, nn.Identity):
            starts: list[float] = []
            module.register_forward_pre_hook(lambda *_, starts=starts: starts.append(time.perf_counter()))
            module.register_forward_hook(
                lambda *_, starts=starts: spent.__setitem__(0, spent[0] + time.perf_counter() - starts.pop())
            )
    return spent


def measure_onnx(spec: dict[str, Any]) -> dict[str, Any]:
    """Median inference time and peak memory of an exported graph in ONNX Runtime (fresh process)."""
    import onnx

    from stereo_attn.deploy.onnx_backend import OnnxNetwork

    network = OnnxNetwork(Path(spec["onnx"]))
    params = sum(int(np.prod(tensor.dims)) for tensor in onnx.load(spec["onnx"]).graph.initializer)
    generator = np.random.default_rng(0)
    left, right = (generator.random((spec["height"], spec["width"], 3), dtype=np.float32) for _ in range(2))
    baseline = current_rss_bytes()
    for _ in range(spec["warmup"]):
        network.predict([left], [right])
    reset_peak_rss()
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        network.predict([left], [right])
        times.append(time.perf_counter() - start)
    return {
        "params": params,
        "seconds": statistics.median(times),
        "seconds_all": times,
        "peak_bytes": peak_rss_bytes() - baseline,
        "attention_share": None,  # one fused graph: no block boundaries to time
        "threads": torch.get_num_threads(),
    }


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Median inference time, peak memory and attention share of one model on one size (fresh process)."""
    if "onnx" in spec:
        return measure_onnx(spec)
    torch.manual_seed(0)
    if "checkpoint" in spec:  # a trained network, as inference runs it
        model = network_from_checkpoint(spec["checkpoint"])
    else:
        model = build_network(spec["model"], "").eval()
    params = sum(p.numel() for p in model.parameters())
    attention_seconds = _time_attention(model)
    baseline = current_rss_bytes()
    left = torch.rand(1, 3, spec["height"], spec["width"])
    right = torch.rand(1, 3, spec["height"], spec["width"])
    times, shares = [], []
    with torch.inference_mode():
        for _ in range(spec["warmup"]):
            model(left, right)
        reset_peak_rss()
        for _ in range(spec["repeats"]):
            attention_seconds[0] = 0.0
            start = time.perf_counter()
            model(left, right)
            times.append(time.perf_counter() - start)
            shares.append(attention_seconds[0] / times[-1])
    return {
        "params": params,
        "seconds": statistics.median(times),
        "seconds_all": times,
        "peak_bytes": peak_rss_bytes() - baseline,
        "attention_share": statistics.median(shares),
        "threads": torch.get_num_threads(),
    }


def run_benchmark(
    models: dict[str, dict[str, Any]],
    attentions: dict[str, dict[str, Any]],
    sizes: list[list[int]],
    repeats: int,
    warmup: int,
    timeout_s: float,
    checkpoints: dict[str, str] | None = None,
    onnx: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every preset with every attention block at every size, then every checkpoint (``name: path``,
    recorded as preset ``name``, attention ``checkpoint``) and every exported graph (``name: path``,
    attention ``onnxruntime``) at every size; one record per configuration."""
    for index, size in enumerate(sizes):
        dimensions(size, f"sizes[{index}]", ("height", "width"), minimum=MIN_IMAGE_SIDE)
    configurations = [
        (preset, attention, {"model": {**model, "attention": block}})
        for preset, model in models.items()
        for attention, block in attentions.items()
    ]
    configurations += [
        (name, "checkpoint", {"checkpoint": path}) for name, path in (checkpoints or {}).items()
    ]
    configurations += [(name, "onnxruntime", {"onnx": path}) for name, path in (onnx or {}).items()]
    runs = [
        ({"preset": preset, "attention": attention, "height": height, "width": width},
         {**network, "height": height, "width": width, "repeats": repeats, "warmup": warmup})
        for preset, attention, network in configurations
        for height, width in sizes
    ]  # fmt: skip
    return sweep(runs, __name__, timeout_s, progress_line)


def progress_line(record: dict[str, Any]) -> str:
    if record["feasible"]:
        outcome = (
            f"{record['seconds']:.3f} s, peak {format_bytes(record['peak_bytes'])}, attention {share(record)}"
        )
    else:
        outcome = f"failed: {record['error']}"
    size = f"{record['height']}x{record['width']}"
    return f"{record['preset']:<6} {record['attention']:<10} {size:<10} {outcome}"


def share(record: dict[str, Any]) -> str:
    return "-" if record["attention_share"] is None else f"{100 * record['attention_share']:.0f}%"


def summarize(records: list[dict[str, Any]]) -> str:
    rows = []
    for r in records:
        if r["feasible"]:
            cells = [f"{r['params'] / 1e6:.2f} M", f"{r['seconds']:.3f}", format_bytes(r["peak_bytes"])]
            cells.append(share(r))
        else:
            cells = ["-", "-", "-", r["error"]]
        rows.append([r["preset"], r["attention"], f"{r['height']}x{r['width']}", *cells])
    return markdown_table(
        ["preset", "attention", "size", "params", "median s", "peak", "attention share"], rows
    )


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
