"""ETH3D two-view stereo: ``root/two_view_training/<scene>/im0.png, im1.png`` with ground truth in
``root/two_view_training_gt/<scene>/disp0GT.pfm, mask0nocc.png``; ``root/two_view_test/<scene>/`` without.

Ground truth is invalid where it is inf; ``valid_noc`` is ``valid & (mask0nocc.png == 255)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from stereo_attn.data.readers.base import (
    Entry,
    FolderDataset,
    GroundTruth,
    pair_entry,
    read_pfm_ground_truth,
    require_files,
)
from stereo_attn.data.sample import Sample

FOLDERS = {"training": "two_view_training", "test": "two_view_test"}


class ETH3D(FolderDataset):
    """ETH3D two-view scenes, sorted by name."""

    name = "eth3d"
    title = "ETH3D"
    unit = "scenes"
    splits = tuple(FOLDERS)

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "training",
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        super().__init__(root, transform, split=split)

    def expected_layout(self, root: str) -> str:
        layout = f"{root}/{FOLDERS[self.split]}/<scene>/im0.png with im1.png beside it"
        if self.split == "training":
            layout += f", and {root}/two_view_training_gt/<scene>/disp0GT.pfm, mask0nocc.png"
        return layout

    def scan(self, root: str) -> list[Entry]:
        images = os.path.join(root, FOLDERS[self.split])
        if not os.path.isdir(images):
            return []
        has_gt = self.split == "training"
        entries = []
        for scene in sorted(os.listdir(images)):
            folder = os.path.join(images, scene)
            if not os.path.isfile(os.path.join(folder, "im0.png")):
                continue
            gt_folder = os.path.join(root, "two_view_training_gt", scene)
            entry = pair_entry(
                os.path.join(folder, "im0.png"),
                os.path.join(folder, "im1.png"),
                os.path.join(gt_folder, "disp0GT.pfm") if has_gt else None,
            )
            entry["mask"] = os.path.join(gt_folder, "mask0nocc.png") if has_gt else None
            entry["scene"] = scene
            require_files((entry[key] for key in ("right", "disparity", "mask")), self.expected_layout(root))
            entries.append(entry)
        return entries

    def ground_truth(self, entry: Entry, left: np.ndarray) -> GroundTruth:
        return read_pfm_ground_truth(entry["disparity"], entry.get("mask"), entry["left"], left)

    def meta(self, entry: Entry) -> dict[str, Any]:
        return {**super().meta(entry), "name": entry["scene"]}
