"""Running the network: the device, the memory check before any output, batched prediction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from stereo_attn import options
from stereo_attn.inference.pairs import InputError
from stereo_attn.model.memory import available_bytes, inference_bytes, largest_fitting


class MemoryBudgetError(InputError):
    """A forward pass would need more memory than the device has."""


def resolve_device(name: object = "auto") -> torch.device:
    """``auto`` (CUDA when there is one, else the CPU), ``cpu`` or ``cuda``."""
    options.choice(name, "device", ("auto", "cpu", "cuda"))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device=cuda: CUDA is not available on this machine; use device=cpu or auto")
    return torch.device(str(name))


def check_memory(
    network: nn.Module, sizes: Sequence[tuple[int, int]], batch_size: int, device: torch.device
) -> None:
    """Refuse, before any output, a size whose forward pass would not fit the device's free memory."""
    budget = available_bytes(device)
    if budget is None:
        return
    for height, width in sorted(set(sizes), key=lambda size: -size[0] * size[1]):
        batch = min(batch_size, sizes.count((height, width)))
        needed = inference_bytes(network, batch, height, width)
        if needed <= budget:
            continue
        fit_h, fit_w = largest_fitting(network, batch, height, width, budget)
        fits = f"about {fit_w}x{fit_h} would fit" if fit_h else "not even 16x16 pixels fit"
        smaller_batch = ", use batch_size=1" if batch > 1 else ""
        raise MemoryBudgetError(
            f"a {width}x{height} pair needs about {needed / 2**30:.1f} GiB for inference (max_disparity "
            f"{network.max_disparity}, batch {batch}) and {device} has {budget / 2**30:.1f} GiB free; "
            f"{fits}: downscale the images{smaller_batch} or lower max_disparity="
        )


def predict(
    network: nn.Module, lefts: Sequence[np.ndarray], rights: Sequence[np.ndarray], device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Images of one size, (H, W, 3) float in [0, 1] -> disparity and confidence, float32 (B, H, W)."""

    def batch(images: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(device)

    with torch.inference_mode():
        output = network(batch(lefts), batch(rights))
    disparity = output["disparity"].float().cpu().numpy()
    confidence = output["confidence"].float().cpu().numpy()
    return disparity, confidence


def batches(sizes: Sequence[tuple[int, int]], batch_size: int) -> Iterator[list[int]]:
    """Indices of pairs in batches of up to ``batch_size`` pairs of one size, in first-seen order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, size in enumerate(sizes):
        groups.setdefault(size, []).append(index)
    for indices in groups.values():
        for start in range(0, len(indices), batch_size):
            yield indices[start : start + batch_size]
