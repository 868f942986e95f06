"""Middlebury 2014, MiddEval3 style: ``root/<scene>/im0.png, im1.png, disp0GT.pfm, mask0nocc.png, calib.txt``.

``root`` is a folder of scenes, e.g. ``MiddEval3/trainingH``. The full 2014 data set's ``disp0.pfm`` is
used when ``disp0GT.pfm`` is absent; scenes with neither (the test scenes) load without ground truth.
Ground truth is invalid where it is inf; ``valid_noc`` is ``valid & (mask0nocc.png == 255)``
(128 marks occluded pixels, 0 pixels without ground truth).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stereo_attn.data.readers.base import (
    DatasetLayoutError,
    Entry,
    FolderDataset,
    GroundTruth,
    pair_entry,
    read_pfm_ground_truth,
    require_files,
)
from stereo_attn.data.sample import Sample
from stereo_attn.inference.calibration import parse_calib

GT_NAMES = ("disp0GT.pfm", "disp0.pfm")


class Middlebury2014(FolderDataset):
    """Middlebury 2014 scenes, sorted by name; ``meta["calib"]`` holds the parsed ``calib.txt``.

    ``scenes`` restricts the reader to the named scene folders (all found scenes by default).
    """

    name = "middlebury2014"
    title = "Middlebury 2014"
    unit = "scenes"

    def __init__(
        self,
        root: str | os.PathLike,
        scenes: Sequence[str] | None = None,
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        self.scenes = scenes
        super().__init__(root, transform)

    def expected_layout(self, root: str) -> str:
        return f"{root}/<scene>/im0.png with im1.png, calib.txt (and disp0GT.pfm, mask0nocc.png) beside it"

    def scan(self, root: str) -> list[Entry]:
        names = sorted(
            name for name in os.listdir(root) if os.path.isfile(os.path.join(root, name, "im0.png"))
        )
        if self.scenes is not None:
            unknown = [scene for scene in self.scenes if scene not in names]
            if unknown:
                raise DatasetLayoutError(
                    f"{root}: no scene folder {', '.join(unknown)}; expected {self.expected_layout(root)}"
                )
            names = [name for name in names if name in self.scenes]
        entries = []
        for name in names:
            folder = os.path.join(root, name)
            gt = next(
                (os.path.join(folder, g) for g in GT_NAMES if os.path.isfile(os.path.join(folder, g))), None
            )
            entry = pair_entry(os.path.join(folder, "im0.png"), os.path.join(folder, "im1.png"), gt)
            mask = os.path.join(folder, "mask0nocc.png")
            entry["mask"] = mask if gt is not None and os.path.isfile(mask) else None
            entry["scene"] = name
            require_files((entry["right"], os.path.join(folder, "calib.txt")), self.expected_layout(root))
            # Parsed once here so a broken calib.txt fails at construction, not mid-epoch.
            entry["calib"] = parse_calib(os.path.join(folder, "calib.txt"))
            entries.append(entry)
        return entries

    def ground_truth(self, entry: Entry, left: np.ndarray) -> GroundTruth:
        return read_pfm_ground_truth(entry["disparity"], entry.get("mask"), entry["left"], left)

    def meta(self, entry: Entry) -> dict[str, Any]:
        # A copy, so a transform that edits meta cannot change the cached calibration.
        return {**super().meta(entry), "name": entry["scene"], "calib": dict(entry["calib"])}
