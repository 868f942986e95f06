"""The one sample format every reader, generator and transform exchanges.

A sample is a plain dict, so PyTorch's default collate batches it:

- ``left``, ``right``: float32 (H, W, 3) RGB in [0, 1].
- ``disparity``: float32 (H, W), left-view disparity in pixels (positive); zeros where unknown.
- ``valid``: bool (H, W), pixels with ground truth (all False for splits without it).
- ``valid_noc``: bool (H, W), the non-occluded subset of ``valid`` where the dataset says so
  (KITTI ``disp_noc``, Middlebury/ETH3D ``mask0nocc.png == 255``), else equal to ``valid``.
- ``meta``: dict of plain values: ``dataset`` (str), ``left_path``, ``right_path``, ``disparity_path``
  (str, "" when absent), ``original_size`` ((H, W) before any transform), and dataset extras
  (e.g. Middlebury's calibration).

Transforms take a sample and return a new one; ``to_tensors`` is the last step before batching.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Sample = dict[str, Any]

ARRAY_KEYS = ("left", "right", "disparity", "valid", "valid_noc")


def make_sample(
    left: np.ndarray,
    right: np.ndarray,
    disparity: np.ndarray | None,
    valid: np.ndarray | None,
    meta: dict[str, Any],
    valid_noc: np.ndarray | None = None,
) -> Sample:
    """Assemble and check a sample; ``disparity``/``valid`` None means no ground truth."""
    height, width = left.shape[:2]
    if right.shape[:2] != (height, width):
        raise ValueError(
            f"{meta.get('right_path', 'right image')}: size {right.shape[1]}x{right.shape[0]} does not match "
            f"the left image {meta.get('left_path', '')} ({width}x{height})"
        )
    if disparity is None:
        disparity = np.zeros((height, width), np.float32)
        valid = np.zeros((height, width), bool)
    elif disparity.shape != (height, width):
        raise ValueError(
            f"{meta.get('disparity_path', 'disparity')}: size {disparity.shape[1]}x{disparity.shape[0]} "
            f"does not match the left image ({width}x{height})"
        )
    valid = np.asarray(valid, bool) & np.isfinite(disparity)
    disparity = np.where(valid, disparity, 0).astype(np.float32)
    valid_noc = valid if valid_noc is None else (np.asarray(valid_noc, bool) & valid)
    meta = {"original_size": (height, width), "disparity_path": "", **meta}
    return {
        "left": np.ascontiguousarray(left, np.float32),
        "right": np.ascontiguousarray(right, np.float32),
        "disparity": disparity,
        "valid": valid,
        "valid_noc": valid_noc,
        "meta": meta,
    }


def to_tensors(sample: Sample) -> dict[str, Any]:
    """Images to (3, H, W) float tensors, maps to (H, W) tensors; ``meta`` unchanged."""
    out = {key: torch.from_numpy(np.ascontiguousarray(sample[key])) for key in ARRAY_KEYS}
    out["left"] = out["left"].permute(2, 0, 1).contiguous()
    out["right"] = out["right"].permute(2, 0, 1).contiguous()
    out["meta"] = sample["meta"]
    return out


def to_arrays(tensors: dict[str, Any]) -> Sample:
    """The inverse of ``to_tensors``: (H, W, 3) images and (H, W) maps as numpy arrays."""
    out = {key: np.asarray(tensors[key]) for key in ARRAY_KEYS}
    out["left"], out["right"] = out["left"].transpose(1, 2, 0), out["right"].transpose(1, 2, 0)
    out["meta"] = tensors["meta"]
    return out
