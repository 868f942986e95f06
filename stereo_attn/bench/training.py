"""Training throughput: samples per second and peak memory of full training steps, per configuration.

Each (preset, attention, precision) runs in a fresh process (``python -m stereo_attn.bench.training
SPEC``) on fixed random batches, so the figure is the model's (forward, multi-output loss, backward,
AdamW step), not the data pipeline's (``scripts/bench_synthetic.py`` measures the generator).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from stereo_attn import options
from stereo_attn.bench.measure import (
    current_rss_bytes,
    format_bytes,
    peak_rss_bytes,
    reset_peak_rss,
)
from stereo_attn.bench.sweep import sweep
from stereo_attn.data.writers import markdown_table
from stereo_attn.inference.predict import resolve_device
from stereo_attn.model.spec import build_network
from stereo_attn.overrides import CONF_DIR
from stereo_attn.training.loss import disparity_loss
from stereo_attn.training.precision import resolve_precision

AUTOCAST = {"32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def default_training() -> dict[str, Any]:
    """What ``scripts/train.py`` trains with no overrides: its model (block included), crop, batch and
    precision, composed from conf/train.yaml so the benchmark's first row follows the shipped defaults."""
    if GlobalHydra.instance().is_initialized():  # inside a Hydra app: this project's conf/ is loaded
        cfg = compose(config_name="train")
    else:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="train")
    return {
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "crop": list(cfg.data.crop),
        "batch_size": int(cfg.data.batch_size),
        "precision": str(cfg.trainer.precision),
    }


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Median seconds per training step after warm-up, samples/s, and peak memory (fresh process)."""
    torch.manual_seed(0)
    device = torch.device(spec["device"])
    model = build_network(spec["model"], "").to(device).train()
    if spec.get("compiled"):
        model.compile(**spec["compile_options"])  # in place, as scripts/train.py's compile=true
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=spec["precision"] == "16-mixed")
    batch, (height, width) = spec["batch_size"], spec["crop"]
    left, right = (torch.rand(batch, 3, height, width, device=device) for _ in range(2))
    target = torch.rand(batch, height, width, device=device) * spec["model"]["max_disparity"] * 0.8
    valid = torch.ones_like(target, dtype=torch.bool)
    dtype = AUTOCAST[spec["precision"]]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            output = model(left, right)
        loss = disparity_loss(output["disparities"], target, valid, spec["model"]["max_disparity"])
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()

    baseline = current_rss_bytes()
    warmup_start = time.perf_counter()
    for _ in range(spec["warmup"]):
        step()
    warmup_seconds = time.perf_counter() - warmup_start  # includes compiling, when compiled
    reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(spec["steps"]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else peak_rss_bytes() - baseline
    return {
        "seconds_per_step": seconds,
        "samples_per_second": batch / seconds,
        "peak_bytes": peak,
        "seconds_all": times,
        "warmup_seconds": warmup_seconds,
        # What was timed, not what was asked: nn.Module.compile routes calls through this wrapper.
        "network_compiled": getattr(model, "_compiled_call_impl", None) is not None,
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
    }


def run_benchmark(
    models: dict[str, dict[str, Any]],
    attentions: dict[str, dict[str, Any]],
    precisions: list[str],
    device: str,
    crop: list[int],
    batch_size: int,
    steps: int,
    warmup: int,
    timeout_s: float,
    default_row: bool = True,
    compile: list[bool] | None = None,
    compile_options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """``default_row``: first, the configuration scripts/train.py trains by default (its own crop, batch
    and precision), as preset ``default``. ``compile``: each configuration eager (false) and/or under
    torch.compile with ``compile_options`` (true), one after the other."""
    crop = options.dimensions(crop, "crop", ("height", "width"))
    device = str(resolve_device(device))
    modes = [False] if compile is None else compile
    if not modes or not all(isinstance(mode, bool) for mode in modes):
        raise options.OptionError(f"compile={compile!r}: expected a non-empty list of true/false")
    configurations = []
    if default_row:
        default = default_training()
        record = {"preset": "default", "attention": default["model"]["attention"]["name"]}
        precision = resolve_precision(default["precision"], torch.device(device).type)
        record.update(precision=precision, device=device)
        record.update(height=default["crop"][0], width=default["crop"][1], batch_size=default["batch_size"])
        configurations.append((record, default["model"], default["crop"]))
    for preset, model in models.items():
        for attention, block in attentions.items():
            for precision in precisions:
                record = {"preset": preset, "attention": attention, "precision": precision, "device": device}
                record.update(height=crop[0], width=crop[1], batch_size=batch_size)
                configurations.append((record, {**model, "attention": block}, crop))
    runs = []
    for record, model, size in configurations:
        for compiled in modes:
            spec = {**record, "model": model, "crop": size, "steps": steps, "warmup": warmup}
            spec.update(compiled=compiled, compile_options=compile_options or {})
            runs.append(({**record, "compiled": compiled}, spec))
    return sweep(runs, __name__, timeout_s, progress_line)


def progress_line(record: dict[str, Any]) -> str:
    outcome = (
        f"{record['samples_per_second']:.2f} samples/s, peak {format_bytes(record['peak_bytes'])}"
        if record["feasible"]
        else f"failed: {record['error']}"
    )
    mode = "compiled" if record["compiled"] else "eager"
    return f"{record['preset']:<6} {record['attention']:<10} {record['precision']:<10} {mode:<8} {outcome}"


def summarize(records: list[dict[str, Any]]) -> str:
    rows = []
    for r in records:
        cells = (
            [f"{r['seconds_per_step']:.3f}", f"{r['samples_per_second']:.2f}", format_bytes(r["peak_bytes"])]
            if r["feasible"]
            else ["-", "-", r["error"]]
        )
        crop = f"{r['batch_size']}x{r['height']}x{r['width']}"
        mode = "compiled" if r["compiled"] else "eager"
        rows.append([r["preset"], r["attention"], r["precision"], mode, r["device"], crop, *cells])
    headers = ["preset", "attention", "precision", "mode", "device", "batch", "s/step", "samples/s", "peak"]
    return markdown_table(headers, rows)


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
