"""Your own pairs: ``root/left/<name>.<image>``, ``root/right/`` with the same file names, and
``root/disparity/<stem>.pfm|.png|.npy`` (optional ``root/mask/<stem>.png``), matched by name.

Disparities are left-view pixels: a PFM or NPY float map (valid where finite and > 0), or a KITTI-style
16-bit PNG (value / 256, valid where > 0). A mask, where given, keeps the pixels where it is non-zero
(e.g. to leave out sky or the car bonnet). Without a ``disparity/`` folder the pairs load without
ground truth (inference only); with one, every pair must have its disparity.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from stereo_attn.data.io import DataFormatError, read_kitti_disparity, read_mask
from stereo_attn.data.readers.base import (
    DatasetLayoutError,
    Entry,
    FolderDataset,
    GroundTruth,
    check_size,
    pair_entry,
    read_checked,
    read_disparity_pfm,
)
from stereo_attn.data.sample import Sample

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")
DISPARITY_SUFFIXES = (".pfm", ".png", ".npy")


def read_disparity_npy(path: str) -> np.ndarray:
    disparity = read_checked(lambda p: np.load(p, allow_pickle=False), path)
    numeric = np.issubdtype(disparity.dtype, np.floating) or np.issubdtype(disparity.dtype, np.integer)
    if disparity.ndim != 2 or not numeric:
        raise DataFormatError(
            f"{path}: {disparity.dtype} array of shape {disparity.shape}; expected an (H, W) disparity map"
        )
    return disparity.astype(np.float32)


def read_disparity_map(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(disparity, valid) from a PFM, NPY or KITTI PNG, as the module docstring says."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".png":
        return read_checked(read_kitti_disparity, path)
    disparity = read_disparity_pfm(path) if suffix == ".pfm" else read_disparity_npy(path)
    valid = np.isfinite(disparity) & (disparity > 0)
    return np.where(valid, disparity, 0).astype(np.float32), valid


class StereoFolder(FolderDataset):
    """Pairs under ``root/left``, ``root/right`` (and ``root/disparity``, ``root/mask``), sorted by name."""

    name = "folder"
    title = "stereo folder"

    def __init__(self, root: str | os.PathLike, transform: Callable[[Sample], Any] | None = None) -> None:
        super().__init__(root, transform)

    def expected_layout(self, root: str) -> str:
        return (
            f"{root}/left/<name>.png with {root}/right/<name>.png and {root}/disparity/<name>.pfm "
            "(or .png x256, .npy; optional mask/<name>.png)"
        )

    def scan(self, root: str) -> list[Entry]:
        expected = self.expected_layout(root)
        folders = {name: os.path.join(root, name) for name in ("left", "right", "disparity", "mask")}
        for name in ("left", "right"):
            if not os.path.isdir(folders[name]):
                raise DatasetLayoutError(f"{folders[name]}: missing; expected {expected}")
        has_gt, has_mask = os.path.isdir(folders["disparity"]), os.path.isdir(folders["mask"])
        entries = []
        for file_name in sorted(os.listdir(folders["left"])):
            stem, suffix = os.path.splitext(file_name)
            if suffix.lower() not in IMAGE_SUFFIXES:
                continue
            right = os.path.join(folders["right"], file_name)
            if not os.path.isfile(right):
                raise DatasetLayoutError(
                    f"{right}: missing (the pair of left/{file_name}); expected {expected}"
                )
            disparity = (
                self._companion(folders["disparity"], stem, DISPARITY_SUFFIXES, expected) if has_gt else None
            )
            entry = pair_entry(os.path.join(folders["left"], file_name), right, disparity)
            entry["mask"] = (
                self._companion(folders["mask"], stem, (".png",), None) if has_mask and has_gt else None
            )
            entry["stem"] = stem
            entries.append(entry)
        return entries

    @staticmethod
    def _companion(folder: str, stem: str, suffixes: tuple[str, ...], expected: str | None) -> str | None:
        """``folder/<stem><suffix>`` for the one suffix present; None if optional (``expected`` None)."""
        found = [
            os.path.join(folder, stem + s) for s in suffixes if os.path.isfile(os.path.join(folder, stem + s))
        ]
        if len(found) > 1:
            raise DatasetLayoutError(f"{found[0]} and {found[1]}: two maps for one pair; keep one")
        if not found and expected is not None:
            names = " or ".join(stem + s for s in suffixes)
            raise DatasetLayoutError(
                f"{folder}/{names}: missing (the disparity of left/{stem}); expected {expected}"
            )
        return found[0] if found else None

    def ground_truth(self, entry: Entry, left: np.ndarray) -> GroundTruth:
        disparity, valid = read_disparity_map(entry["disparity"])
        check_size(entry["disparity"], disparity, entry["left"], left)
        if entry.get("mask"):
            mask = read_checked(read_mask, entry["mask"])
            check_size(entry["mask"], mask, entry["left"], left)
            valid = valid & (mask > 0)
        return disparity, valid, None

    def meta(self, entry: Entry) -> dict[str, Any]:
        return {**super().meta(entry), "name": entry["stem"]}
