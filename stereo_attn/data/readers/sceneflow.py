"""Scene Flow (FlyingThings3D, Monkaa, Driving): finalpass/cleanpass frames with left-view PFM disparity.

Two layouts are found, per subset:

- merged (the PSMNet/GwcNet lists): ``root/frames_finalpass/TRAIN/A/0000/left/0006.png`` (FlyingThings3D),
  ``root/frames_finalpass/<scene>/left/0000.png`` (Monkaa),
  ``root/frames_finalpass/35mm_focallength/scene_forwards/fast/left/0001.png`` (Driving),
  disparity at the same relative path under ``root/disparity/`` with ``.pfm``;
- per-subset downloads: ``root/FlyingThings3D/frames_finalpass/TRAIN/...``, ``root/Monkaa/...``,
  ``root/Driving/...``, each with ``disparity/`` beside ``frames_*``.

A subset folder (``root/<Subset>/frames_<pass>``) takes precedence over the merged layout for that subset.
Only FlyingThings3D has a TEST split; Monkaa and Driving belong to TRAIN.

Occlusion masks are optional: a uint8 PNG at the disparity's path with ``disparity_occlusions`` for the
``disparity`` folder and ``.png`` for ``.pfm`` (255 = occluded in the right view, 0 = visible, as in the
FlyingThings3D subset download and what ``export_synthetic`` writes) gives the pair's ``valid_noc``.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stereo_attn.data.io import read_mask
from stereo_attn.data.readers.base import (
    DatasetLayoutError,
    Entry,
    GroundTruth,
    StereoDataset,
    check_size,
    pair_entry,
    read_checked,
    read_disparity_pfm,
    read_file_list,
    require_dir,
)
from stereo_attn.data.sample import Sample

log = logging.getLogger(__name__)

SUBSETS = ("FlyingThings3D", "Monkaa", "Driving")
SPLITS = ("TRAIN", "TEST")
PASSES = ("finalpass", "cleanpass")
# Folder names users have for the per-subset downloads (the canonical name first).
SUBSET_FOLDERS = {
    "FlyingThings3D": ("FlyingThings3D", "flyingthings3d"),
    "Monkaa": ("Monkaa", "monkaa"),
    "Driving": ("Driving", "driving"),
}


def expected_layout(root: str, split: str = "TRAIN", pass_name: str = "finalpass") -> str:
    return (
        f"{root}/frames_{pass_name}/{split}/A/0000/left/0006.png (FlyingThings3D; Monkaa <scene>/left, "
        f"Driving 35mm_focallength/scene_forwards/fast/left) with right/ beside left/ and "
        f"{root}/disparity/ holding the same paths as .pfm, or the same under {root}/FlyingThings3D/, "
        f"{root}/Monkaa/, {root}/Driving/"
    )


def _check_choice(value: str, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown Scene Flow {what} {value!r}; choose from {', '.join(choices)}")
    return value


def _left_dirs(frames: str, subset: str, split: str) -> list[str]:
    """The ``left/`` folders of one subset under a ``frames_<pass>`` folder, sorted."""
    if subset == "FlyingThings3D":
        pattern = os.path.join(glob.escape(frames), split, "*", "*", "left")
        return sorted(glob.glob(pattern))
    if subset == "Driving":
        return sorted(glob.glob(os.path.join(glob.escape(frames), "*_focallength", "*", "*", "left")))
    # Monkaa: every scene folder that is not FlyingThings3D's split or a Driving focal length.
    return sorted(
        path
        for path in glob.glob(os.path.join(glob.escape(frames), "*", "left"))
        if not (
            os.path.basename(os.path.dirname(path)) in SPLITS
            or os.path.basename(os.path.dirname(path)).endswith("_focallength")
        )
    )


def _pairs_under(base: str, subset: str, split: str, pass_name: str) -> list[Entry]:
    frames = os.path.join(base, f"frames_{pass_name}")
    disparity_root = os.path.join(base, "disparity")
    entries = []
    for left_dir in _left_dirs(frames, subset, split):
        sequence = os.path.dirname(left_dir)
        relative_sequence = os.path.relpath(sequence, frames)
        for name in sorted(os.listdir(left_dir)):
            if not name.endswith(".png"):
                continue
            right = os.path.join(sequence, "right", name)
            disparity = os.path.join(disparity_root, relative_sequence, "left", name[: -len(".png")] + ".pfm")
            for path in (right, disparity):
                if not os.path.isfile(path):
                    raise DatasetLayoutError(
                        f"{path}: missing (the pair of {os.path.join(left_dir, name)}); "
                        f"expected right/ beside left/ and the left-view .pfm under {disparity_root}"
                    )
            entries.append(pair_entry(os.path.join(left_dir, name), right, disparity))
    return entries


def occlusion_path(disparity: str | None) -> str | None:
    """The occlusion mask beside a disparity file, None if there is none: the same path with its last
    ``disparity`` folder replaced by ``disparity_occlusions`` and the extension by ``.png``."""
    if not disparity:
        return None
    parts = os.path.normpath(disparity).split(os.sep)
    folders = parts[:-1]
    if "disparity" not in folders:
        return None
    index = len(folders) - 1 - folders[::-1].index("disparity")
    stem = os.path.splitext(parts[-1])[0]
    path = os.sep.join([*parts[:index], "disparity_occlusions", *parts[index + 1 : -1], stem + ".png"])
    return path if os.path.isfile(path) else None


def _subset_base(root: str, subset: str, pass_name: str) -> str:
    """The folder that holds this subset's ``frames_<pass>``: its own download folder, else the root."""
    for folder in SUBSET_FOLDERS[subset]:
        candidate = os.path.join(root, folder)
        if os.path.isdir(os.path.join(candidate, f"frames_{pass_name}")):
            return candidate
    return root


def scan_sceneflow(
    root: str | os.PathLike,
    split: str = "TRAIN",
    pass_name: str = "finalpass",
    subsets: Sequence[str] = SUBSETS,
) -> list[Entry]:
    """All pairs of the requested subsets, in a fixed order (FlyingThings3D, Monkaa, Driving; paths sorted).

    Subsets that are not present are skipped with a warning; an empty result raises DatasetLayoutError.
    """
    _check_choice(split, SPLITS, "split")
    _check_choice(pass_name, PASSES, "pass")
    for subset in subsets:
        _check_choice(subset, SUBSETS, "subset")
    root_abs = require_dir(root, expected_layout(os.fspath(root), split, pass_name))
    entries: list[Entry] = []
    absent = []
    for subset in SUBSETS:
        if subset not in subsets or (split == "TEST" and subset != "FlyingThings3D"):
            continue
        found = _pairs_under(_subset_base(root_abs, subset, pass_name), subset, split, pass_name)
        if not found:
            absent.append(subset)
        entries.extend(found)
    if not entries:
        raise DatasetLayoutError(
            f"{root_abs}: no Scene Flow {split} {pass_name} pairs found for {', '.join(subsets)}; "
            f"expected {expected_layout(root_abs, split, pass_name)}"
        )
    if absent:
        log.warning("Scene Flow %s %s: no %s pairs under %s", split, pass_name, ", ".join(absent), root_abs)
    return entries


def sceneflow_subset(path: str) -> str:
    """Which subset a frame path belongs to, from the folder after ``frames_<pass>``; "" if unknown."""
    parts = path.replace("\\", "/").split("/")
    for index in range(len(parts) - 1, -1, -1):
        if parts[index].startswith("frames_"):
            following = parts[index + 1] if index + 1 < len(parts) else ""
            if following in SPLITS:
                return "FlyingThings3D"
            if following.endswith("_focallength"):
                return "Driving"
            return "Monkaa"
    return ""


class SceneFlow(StereoDataset):
    """Scene Flow pairs: ``disparity`` is the left-view PFM; ``valid`` is where it is finite; ``valid_noc``
    is ``valid`` where the occlusion mask (``occlusion_path``, found when the dataset is built and kept
    as ``entry["occlusion"]``) is 0, and left to ``valid`` for pairs without one.

    The evaluation protocol (0 < gt < max_disp) is applied by the metrics, not here.
    """

    name = "sceneflow"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "TRAIN",
        pass_name: str = "finalpass",
        subsets: Sequence[str] = SUBSETS,
        file_list: str | os.PathLike | None = None,
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        self.split = _check_choice(split, SPLITS, "split")
        self.pass_name = _check_choice(pass_name, PASSES, "pass")
        self.subsets = tuple(_check_choice(subset, SUBSETS, "subset") for subset in subsets)
        if file_list is not None:
            root_abs = require_dir(root, f"the folder the paths in {file_list} are relative to")
            entries = read_file_list(file_list, root_abs)
            expected = f"at least one 'left right [disparity]' line in {os.path.abspath(file_list)}"
        else:
            root_abs = os.path.abspath(os.fspath(root))
            entries = scan_sceneflow(root_abs, split, pass_name, self.subsets)
            expected = expected_layout(root_abs, split, pass_name)
        for entry in entries:  # looked up once here, so that loading a pair does not stat
            entry["occlusion"] = occlusion_path(entry["disparity"])
        super().__init__(entries, transform, root=root_abs, expected=expected, what="Scene Flow pairs")

    def ground_truth(self, entry: Entry, left: np.ndarray) -> GroundTruth:
        # No size check here: make_sample's message for a mismatched disparity is the one users see.
        disparity = read_disparity_pfm(entry["disparity"])
        valid = np.isfinite(disparity)
        occlusion = entry.get("occlusion")
        if not occlusion:
            return disparity, valid, None
        mask = read_checked(read_mask, occlusion)
        check_size(occlusion, mask, entry["disparity"], disparity)
        return disparity, valid, valid & (mask == 0)

    def meta(self, entry: Entry) -> dict[str, Any]:
        return {**super().meta(entry), "subset": sceneflow_subset(entry["left"])}
