"""Middlebury 2006 pairs as OpenCV's sample data has them: ``root/<scene>L.jpg, <scene>R.jpg, <scene>GT.png``.

The ground truth is an 8-bit PNG of left-view disparities in pixels at the views' size, 0 where
unknown. ``scale`` reads a pair smaller, as networks and SGBM are usually run on these scenes: views
resized with area interpolation, disparity with nearest neighbour and multiplied by the scale.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from stereo_attn.data.io import read_image, read_mask
from stereo_attn.data.readers.base import Entry, FolderDataset, GroundTruth, check_size, read_checked
from stereo_attn.data.sample import Sample, make_sample

VIEW_SUFFIXES = (".jpg", ".png")


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    return max(1, round(height * scale)), max(1, round(width * scale))


class Middlebury2006(FolderDataset):
    """Every ``<scene>L.*`` under ``root`` with its ``<scene>R.*`` and ``<scene>GT.png``, sorted by scene."""

    name = "middlebury2006"
    title = "Middlebury 2006"
    unit = "pairs"

    def __init__(
        self,
        root: str | os.PathLike,
        scale: float = 1.0,
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale <= 1:
            raise ValueError(f"scale={scale}: expected a number in (0, 1]")
        self.scale = float(scale)
        super().__init__(root, transform)

    def expected_layout(self, root: str) -> str:
        return f"{root}/<scene>L.jpg (or .png) with <scene>R.jpg and <scene>GT.png (8-bit, 0 = unknown)"

    def scan(self, root: str) -> list[Entry]:
        entries = []
        for name in sorted(os.listdir(root)):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() not in VIEW_SUFFIXES or not stem.endswith("L"):
                continue
            scene = stem[:-1]
            right = os.path.join(root, f"{scene}R{suffix}")
            if not os.path.isfile(right):
                continue
            truth = os.path.join(root, f"{scene}GT.png")
            entry = {"left": os.path.join(root, name), "right": right, "scene": scene}
            entry["disparity"] = truth if os.path.isfile(truth) else None
            entries.append(entry)
        return entries

    def load(self, entry: Entry) -> Sample:
        left = read_checked(read_image, entry["left"])
        right = read_checked(read_image, entry["right"])
        check_size(entry["right"], right, entry["left"], left)
        disparity = valid = None
        if entry["disparity"]:
            disparity, valid, _ = self.ground_truth(entry, left)
        if self.scale != 1.0:
            height, width = scaled_size(*left.shape[:2], self.scale)
            left, right = (
                cv2.resize(view, (width, height), interpolation=cv2.INTER_AREA) for view in (left, right)
            )
            if disparity is not None:
                disparity = (
                    cv2.resize(disparity, (width, height), interpolation=cv2.INTER_NEAREST) * self.scale
                )
                valid = disparity > 0
        return make_sample(left, right, disparity, valid, self.meta(entry))

    def ground_truth(self, entry: Entry, left: np.ndarray) -> GroundTruth:
        truth = read_checked(read_mask, entry["disparity"])
        check_size(entry["disparity"], truth, entry["left"], left)
        disparity = truth.astype(np.float32)
        return disparity, disparity > 0, None

    def meta(self, entry: Entry) -> dict[str, Any]:
        return {**super().meta(entry), "name": entry["scene"], "scale": self.scale}
