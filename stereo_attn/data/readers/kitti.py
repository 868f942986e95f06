"""KITTI 2015 and 2012 stereo: the ``_10`` frames, 16-bit PNG disparity (value / 256, 0 = no ground truth).

KITTI 2015: ``root/training/image_2/000000_10.png``, ``image_3/``, ``disp_occ_0/`` (all pixels with
ground truth), ``disp_noc_0/`` (non-occluded); ``root/testing/image_2|image_3`` without ground truth.
KITTI 2012: the same with ``colored_0``, ``colored_1``, ``disp_occ``, ``disp_noc``.
Only the ``_10`` frames are stereo pairs with ground truth; the ``_11`` frames (scene flow) are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from stereo_attn.data.io import read_kitti_disparity
from stereo_attn.data.readers.base import (
    Entry,
    FolderDataset,
    GroundTruth,
    check_size,
    pair_entry,
    read_checked,
    require_files,
)
from stereo_attn.data.sample import Sample

SPLITS = ("training", "testing")


class _Kitti(FolderDataset):
    splits = SPLITS
    left_folder = right_folder = occ_folder = noc_folder = ""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "training",
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        super().__init__(root, transform, split=split)

    def expected_layout(self, root: str) -> str:
        beside = f"{self.right_folder}/" + (f", {self.occ_folder}/" if self.split == "training" else "")
        return f"{root}/{self.split}/{self.left_folder}/000000_10.png with {beside} beside it"

    def scan(self, root: str) -> list[Entry]:
        split_dir = os.path.join(root, self.split)
        left_dir = os.path.join(split_dir, self.left_folder)
        if not os.path.isdir(left_dir):
            return []
        has_gt = self.split == "training"
        # disp_noc is optional: without it valid_noc falls back to valid.
        has_noc = has_gt and os.path.isdir(os.path.join(split_dir, self.noc_folder))
        entries = []
        for name in sorted(os.listdir(left_dir)):
            if not name.endswith("_10.png"):
                continue
            entry = pair_entry(
                os.path.join(left_dir, name),
                os.path.join(split_dir, self.right_folder, name),
                os.path.join(split_dir, self.occ_folder, name) if has_gt else None,
            )
            entry["noc"] = os.path.join(split_dir, self.noc_folder, name) if has_noc else None
            require_files(
                (entry[key] for key in ("right", "disparity", "noc")),
                self.expected_layout(root),
                context=f" (the pair of {entry['left']})",
            )
            entries.append(entry)
        return entries

    def ground_truth(self, entry: Entry, left: np.ndarray) -> GroundTruth:
        disparity, valid = read_checked(read_kitti_disparity, entry["disparity"])
        valid_noc = None
        if entry.get("noc"):
            _, valid_noc = read_checked(read_kitti_disparity, entry["noc"])
            check_size(entry["noc"], valid_noc, entry["disparity"], disparity)
        return disparity, valid, valid_noc

    def meta(self, entry: Entry) -> dict[str, Any]:
        return {**super().meta(entry), "name": os.path.basename(entry["left"])[: -len(".png")]}


class Kitti2015(_Kitti):
    """KITTI 2015: ``valid`` from ``disp_occ_0`` (> 0), ``valid_noc`` from ``disp_noc_0``."""

    name = "kitti2015"
    title = "KITTI 2015"
    left_folder, right_folder, occ_folder, noc_folder = "image_2", "image_3", "disp_occ_0", "disp_noc_0"


class Kitti2012(_Kitti):
    """KITTI 2012: ``valid`` from ``disp_occ`` (> 0), ``valid_noc`` from ``disp_noc``."""

    name = "kitti2012"
    title = "KITTI 2012"
    left_folder, right_folder, occ_folder, noc_folder = "colored_0", "colored_1", "disp_occ", "disp_noc"
