"""ETH3D two-view stereo: ``root/two_view_training/<scene>/im0.png, im1.png`` with ground truth in
``root/two_view_training_gt/<scene>/disp0GT.pfm, mask0nocc.png``; ``root/two_view_test/<scene>/`` without.

Ground truth is invalid where it is inf; ``valid_noc`` is ``valid & (mask0nocc.png == 255)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from stereo_attn.data.base import (
    Entry,
    StereoDataset,
    pair_entry,
    read_checked,
    read_pfm_ground_truth,
    require_dir,
    require_files,
)
from stereo_attn.data.io import read_image
from stereo_attn.data.sample import Sample, make_sample

FOLDERS = {"training": "two_view_training", "test": "two_view_test"}


def expected_layout(root: str, split: str) -> str:
    layout = f"{root}/{FOLDERS[split]}/<scene>/im0.png with im1.png beside it"
    if split == "training":
        layout += f", and {root}/two_view_training_gt/<scene>/disp0GT.pfm, mask0nocc.png"
    return layout


class ETH3D(StereoDataset):
    """ETH3D two-view scenes, sorted by name."""

    name = "eth3d"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "training",
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        if split not in FOLDERS:
            raise ValueError(f"unknown ETH3D split {split!r}; choose from {', '.join(FOLDERS)}")
        self.split = split
        expected = expected_layout(os.path.abspath(os.fspath(root)), split)
        root_abs = require_dir(root, expected)
        entries = self.scan(root_abs, split)
        super().__init__(entries, transform, root=root_abs, expected=expected, what=f"ETH3D {split} scenes")

    @staticmethod
    def scan(root: str, split: str) -> list[Entry]:
        images = os.path.join(root, FOLDERS[split])
        if not os.path.isdir(images):
            return []
        entries = []
        for scene in sorted(os.listdir(images)):
            folder = os.path.join(images, scene)
            if not os.path.isfile(os.path.join(folder, "im0.png")):
                continue
            gt_folder = os.path.join(root, "two_view_training_gt", scene)
            entry = pair_entry(
                os.path.join(folder, "im0.png"),
                os.path.join(folder, "im1.png"),
                os.path.join(gt_folder, "disp0GT.pfm") if split == "training" else None,
            )
            entry["mask"] = os.path.join(gt_folder, "mask0nocc.png") if split == "training" else None
            entry["scene"] = scene
            require_files(
                (entry[key] for key in ("right", "disparity", "mask")), expected_layout(root, split)
            )
            entries.append(entry)
        return entries

    def load(self, entry: Entry) -> Sample:
        left = read_checked(read_image, entry["left"])
        right = read_checked(read_image, entry["right"])
        disparity = valid = valid_noc = None
        if entry["disparity"]:
            disparity, valid, valid_noc = read_pfm_ground_truth(
                entry["disparity"], entry.get("mask"), entry["left"], left
            )
        meta = {**self.base_meta(entry), "name": entry["scene"]}
        return make_sample(left, right, disparity, valid, meta, valid_noc=valid_noc)
