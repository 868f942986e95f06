"""How much memory an inference needs, and how much the machine has, before the first forward pass.

The peak is set by the 1/4-resolution volumes: the correlation volume (G channels) and, at once, the
stem's output, the attention block's buffers, an hourglass's decoder output and the scoring head (about
six C-channel copies). Counted as ``(2 G + 6 C) * 4`` bytes per voxel plus the 2D feature maps and a
fixed scratch allowance, this upper-bounds the measured peak resident memory (fp32 on the CPU, max
disparity 192; see tests/test_memory.py): at 544x960, small 357 B/voxel measured against 448
estimated for the volumes, base 885 against 1024. SOFT keeps its kernels between passes up to a budget
(``kernel_cache_mib``), added on top.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from stereo_attn.model.network import STRIDE, StereoNetwork

FLOAT_BYTES = 4
# Live 2D maps per pixel and input channel width at 1/2 resolution: both images' trunk, its padding and
# activations, the upsampler's weights.
FEATURE_COPIES = 6
# Whatever the size: oneDNN's and the threads' scratch, allocator slack (146-183 MB measured at 256x512
# for small, whose volumes the formula puts at 201 MB).
FIXED_BYTES = 64 * 2**20


def inference_bytes(network: StereoNetwork, batch: int, height: int, width: int) -> int:
    """Estimated peak bytes of one fp32 forward pass in eval mode on ``batch`` pairs of ``height x width``."""
    padded_h, padded_w = math.ceil(height / STRIDE) * STRIDE, math.ceil(width / STRIDE) * STRIDE
    voxels = batch * network.bins * (padded_h // 4) * (padded_w // 4)
    channels = network.aggregation.stem[0].out_channels  # the C of every 1/4 volume after the stem
    per_voxel = (2 * network.groups + 6 * channels) * FLOAT_BYTES
    half_resolution_pixels = 2 * batch * (padded_h // 2) * (padded_w // 2)  # both images
    first_width = network.features.trunk[0][0].out_channels
    features = half_resolution_pixels * FEATURE_COPIES * first_width * FLOAT_BYTES
    # Blocks that keep work between their passes (SOFT's kernels) hold it while they run, one at a time.
    caches = [
        module.inference_cache_bytes(voxels)
        for module in network.modules()
        if hasattr(module, "inference_cache_bytes")
    ]
    return FIXED_BYTES + voxels * per_voxel + features + max(caches, default=0)


def _cgroup_headroom() -> int | None:
    """Bytes this process's cgroup (v2, else v1) may still use, if it sets a limit."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max", or v1's huge number: no limit
            return max(int(limit) - usage, 0)
    return None


def available_bytes(device: torch.device) -> int | None:
    """Free memory for tensors on ``device``: CUDA's free memory, or on the CPU the smaller of Linux's
    MemAvailable and the cgroup's headroom; None where it cannot be told."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type != "cpu":
        return None
    candidates = [_cgroup_headroom()]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    known = [value for value in candidates if value is not None]
    return min(known) if known else None


def largest_fitting(
    network: StereoNetwork, batch: int, height: int, width: int, budget: int
) -> tuple[int, int]:
    """The largest (height, width) of the same aspect ratio, in steps of 16 pixels, whose estimate fits
    ``budget``; (0, 0) if not even 16 pixels fit."""
    low, high = 0.0, 1.0
    for _ in range(40):  # bisection on the scale factor
        scale = (low + high) / 2
        h, w = max(int(height * scale) // STRIDE * STRIDE, 0), max(int(width * scale) // STRIDE * STRIDE, 0)
        if h and w and inference_bytes(network, batch, h, w) <= budget:
            low = scale
        else:
            high = scale
    h, w = int(height * low) // STRIDE * STRIDE, int(width * low) // STRIDE * STRIDE
    return (h, w) if h and w else (0, 0)
