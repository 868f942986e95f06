"""Where a training step of the default configuration spends its time: data loading, the forward and
backward of each stage of the network, the loss and the optimizer step.

The step is the one ``scripts/train.py`` runs with no overrides (model, data pipeline with its
workers, crop, batch and precision composed from conf/train.yaml), driven here without Lightning so
each phase can be timed. Forward and backward stages are timed with module hooks; what no stage
covers (the correlation volume, soft-argmin, padding and cropping) is reported as "other".
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from stereo_attn.bench.training import AUTOCAST
from stereo_attn.data.writers import markdown_table
from stereo_attn.training.loss import disparity_loss
from stereo_attn.training.precision import resolve_precision
from stereo_attn.training.run import build_module
from stereo_attn.training.targets import instantiate_checked


def stages(network: nn.Module) -> dict[str, list[nn.Module]]:
    """The network's stages in data-path order, each one or more modules."""
    aggregation = network.aggregation
    attention = aggregation.attention_quarter
    found = {
        "features (2D)": [network.features],
        "3D stem": [aggregation.stem],
        "attention at 1/4": [] if isinstance(attention, nn.Identity) else [attention],
        "hourglasses (with any attention at 1/8, 1/16)": list(aggregation.hourglasses),
        "heads": list(aggregation.heads),
        "upsampling": [network.upsampler],
    }
    return {name: modules for name, modules in found.items() if modules}


class StageClock:
    """Seconds spent in each stage's forward and backward, from module hooks.

    A module whose inputs need no gradient (the 2D features: the images) gets no module backward
    hooks; its backward starts when the first gradient reaches one of its outputs and, running last,
    lasts to the end of the backward (``finish_backward``).
    """

    def __init__(self, network: nn.Module) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.open_backward: dict[str, list[float]] = defaultdict(list)
        for name, modules in stages(network).items():
            for module in modules:
                self._hook(module, name)

    def _hook(self, module: nn.Module, name: str) -> None:
        started: list[float] = []
        backward = self.open_backward[name]

        def add(key: str, since: float) -> None:
            self.seconds[key] += time.perf_counter() - since

        def after_forward(_: nn.Module, inputs: tuple, outputs: Any) -> None:
            add(f"forward: {name}", started.pop())
            if not any(isinstance(t, torch.Tensor) and t.requires_grad for t in inputs):
                first = [tensor for tensor in _tensors(outputs) if tensor.requires_grad][:1]
                for tensor in first:
                    tensor.register_hook(lambda grad: backward.append(time.perf_counter()))

        module.register_forward_pre_hook(lambda *_: started.append(time.perf_counter()))
        module.register_forward_hook(after_forward)
        module.register_full_backward_pre_hook(lambda *_: backward.append(time.perf_counter()))
        module.register_full_backward_hook(lambda *_: add(f"backward: {name}", backward.pop()))

    def finish_backward(self) -> None:
        for name, starts in self.open_backward.items():
            while starts:
                self.seconds[f"backward: {name}"] += time.perf_counter() - starts.pop()

    def take(self) -> dict[str, float]:
        seconds, self.seconds = dict(self.seconds), defaultdict(float)
        return seconds


def _tensors(outputs: Any) -> list[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, list | tuple):
        return [t for t in outputs if isinstance(t, torch.Tensor)]
    return []


def profile_training(cfg: DictConfig, steps: int, warmup: int) -> dict[str, Any]:
    """Mean seconds per phase over ``steps`` steps after ``warmup`` (the default config: ``cfg``)."""
    datamodule = instantiate_checked(cfg.data, "data")
    datamodule.setup("fit")
    module = build_module(cfg)
    network = module.network.train()
    optimizer = instantiate_checked(cfg.optimizer, "optimizer", params=network.parameters())
    precision = resolve_precision(str(cfg.trainer.precision), "cpu")
    dtype = AUTOCAST[precision]
    clock = StageClock(network)
    batches: Iterator = iter(datamodule.train_dataloader())
    rows: list[dict[str, float]] = []
    for step in range(warmup + steps):
        phases: dict[str, float] = {}
        start = time.perf_counter()
        batch = next(batches)
        phases["data (waiting for the loader)"] = time.perf_counter() - start
        clock.take()
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            output = network(batch["left"], batch["right"])
        phases["forward"] = time.perf_counter() - start
        start = time.perf_counter()
        loss = disparity_loss(output["disparities"], batch["disparity"], batch["valid"], module.max_disparity)
        phases["loss"] = time.perf_counter() - start
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # the note that the features' hooks see their outputs' gradients
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            loss.backward()
        clock.finish_backward()
        phases["backward"] = time.perf_counter() - start
        start = time.perf_counter()
        optimizer.step()
        phases["optimizer"] = time.perf_counter() - start
        phases.update(clock.take())
        if step >= warmup:
            rows.append(phases)
    mean = {key: statistics.mean(row.get(key, 0.0) for row in rows) for key in rows[0]}
    return {
        "steps": steps,
        "batch_size": int(cfg.data.batch_size),
        "crop": list(cfg.data.crop),
        "precision": precision,
        "attention": str(cfg.model.attention.name),
        "num_workers": int(cfg.data.num_workers),
        "threads": torch.get_num_threads(),
        "seconds": mean,
    }


def summarize(result: dict[str, Any]) -> str:
    """One row per phase, stages under their pass, with "other" for what no stage covers."""
    seconds = result["seconds"]
    top = ["data (waiting for the loader)", "forward", "loss", "backward", "optimizer"]
    total = sum(seconds[key] for key in top)
    rows = []
    for key in top:
        rows.append([key, f"{seconds[key]:.3f}", f"{100 * seconds[key] / total:.1f}%"])
        if key in ("forward", "backward"):
            parts = {k.split(": ", 1)[1]: v for k, v in seconds.items() if k.startswith(f"{key}: ")}
            for name, value in parts.items():
                rows.append([f"  {name}", f"{value:.3f}", f"{100 * value / total:.1f}%"])
            other = seconds[key] - sum(parts.values())
            rows.append(["  other", f"{other:.3f}", f"{100 * other / total:.1f}%"])
    rows.append(["step", f"{total:.3f}", "100%"])
    return markdown_table(["phase", "s per step", "share"], rows)
