"""Occlusion masks in the Scene Flow layout: written by export_synthetic, read by the Scene Flow reader."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from stereo_attn.data.io import DataFormatError, write_image
from stereo_attn.data.readers.base import write_file_list
from stereo_attn.data.readers.sceneflow import SceneFlow, occlusion_path
from stereo_attn.data.synthetic.export import export_synthetic, pair_paths
from stereo_attn.data.synthetic.scenes import SyntheticConfig, SyntheticStereo
from stereo_attn.options import OptionError

TINY = SyntheticConfig(height=32, width=64, max_disparity=16.0, min_objects=2, max_objects=4)
COUNT, SEED, PER_SEQUENCE = 4, 5, 3  # two sequences: 0000 (three frames) and 0001 (one)


def export(root: Path, count: int = COUNT, overwrite: bool = False) -> list[dict]:
    export_synthetic(
        root, "test", count, seed=SEED, config=TINY, frames_per_sequence=PER_SEQUENCE, progress=False,
        overwrite=overwrite,
    )  # fmt: skip
    generated = SyntheticStereo("test", count, seed=SEED, config=TINY)
    return [generated[index] for index in range(count)]


def mask_path(root: Path, index: int) -> Path:
    return pair_paths(root, "test", index, PER_SEQUENCE)["occlusion"]


def test_export_writes_occlusion_masks_in_the_flyingthings_convention(tmp_path: Path) -> None:
    samples = export(tmp_path)
    assert mask_path(tmp_path, 3) == tmp_path / "disparity_occlusions/TEST/A/0001/left/0000.png"
    occluded = visible = 0
    for index, sample in enumerate(samples):
        path = mask_path(tmp_path, index)
        assert path.is_file(), path
        mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and mask.shape == (TINY.height, TINY.width)
        assert set(np.unique(mask)) <= {0, 255}
        np.testing.assert_array_equal(mask, (~sample["valid_noc"]).astype(np.uint8) * 255)
        occluded += int((mask == 255).sum())
        visible += int((mask == 0).sum())
    assert occluded > 0 and visible > 0  # both values really occur, so the comparison above means something
    written = sorted(
        p.relative_to(tmp_path).as_posix() for p in (tmp_path / "disparity_occlusions").rglob("*.png")
    )
    assert written == [mask_path(tmp_path, i).relative_to(tmp_path).as_posix() for i in range(COUNT)]
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no staging folder left


def test_exported_occlusions_read_back_exactly_in_both_modes(tmp_path: Path) -> None:
    samples = export(tmp_path)
    scanned = SceneFlow(tmp_path, split="TEST")
    list_path = tmp_path / "list.txt"
    write_file_list(list_path, scanned.entries, tmp_path)
    listed = SceneFlow(tmp_path, file_list=list_path)
    assert listed.entries == scanned.entries
    for dataset in (scanned, listed):
        assert len(dataset) == COUNT
        for index, original in enumerate(samples):
            entry = dataset.entries[index]
            assert entry["occlusion"] == str(mask_path(tmp_path, index))
            loaded = dataset[index]
            np.testing.assert_array_equal(loaded["disparity"], original["disparity"])
            np.testing.assert_array_equal(loaded["valid"], original["valid"])
            np.testing.assert_array_equal(loaded["valid_noc"], original["valid_noc"])
            assert not loaded["valid_noc"].all()  # the mask was applied, not defaulted to valid
            _, _, valid_noc = dataset.ground_truth(entry, loaded["left"])
            np.testing.assert_array_equal(valid_noc, original["valid_noc"])


def test_occlusion_mask_of_the_wrong_size_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    export(tmp_path)
    bad = mask_path(tmp_path, 1)
    write_image(bad, np.zeros((TINY.height, TINY.width - 1), np.uint8))
    dataset = SceneFlow(tmp_path, split="TEST")
    dataset[0]  # the other pairs still read
    with pytest.raises(DataFormatError) as caught:
        dataset[1]
    message = str(caught.value)
    assert message.startswith(str(bad)) and "\n" not in message
    assert re.search(rf"size {TINY.width - 1}x{TINY.height} does not match", message), message


def test_occlusion_mask_that_is_not_a_mask_names_the_file(tmp_path: Path) -> None:
    export(tmp_path)
    bad = mask_path(tmp_path, 2)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataFormatError, match=re.escape(str(bad))):
        SceneFlow(tmp_path, split="TEST")[2]


def test_without_occlusion_masks_valid_noc_is_left_to_valid(tmp_path: Path) -> None:
    samples = export(tmp_path)
    mask_path(tmp_path, 0).unlink()  # one pair without a mask: only that pair has none
    dataset = SceneFlow(tmp_path, split="TEST")
    assert dataset.entries[0]["occlusion"] is None and dataset.entries[1]["occlusion"] is not None
    shutil.rmtree(tmp_path / "disparity_occlusions")
    dataset = SceneFlow(tmp_path, split="TEST")
    for index, original in enumerate(samples):
        entry = dataset.entries[index]
        assert entry["occlusion"] is None
        loaded = dataset[index]
        assert dataset.ground_truth(entry, loaded["left"])[2] is None
        np.testing.assert_array_equal(loaded["valid_noc"], loaded["valid"])
        np.testing.assert_array_equal(loaded["disparity"], original["disparity"])


def test_occlusion_folder_follows_the_refusal_and_overwrite_rules(tmp_path: Path) -> None:
    root = tmp_path / "only_masks"
    (root / "disparity_occlusions" / "TEST").mkdir(parents=True)
    with pytest.raises(OptionError, match=re.escape("already holds disparity_occlusions/TEST")):
        export(root)
    assert os.listdir(root) == ["disparity_occlusions"]  # refused before anything was written

    export(tmp_path / "pairs")
    samples = export(tmp_path / "pairs", count=2, overwrite=True)  # replaces the split whole: no stale masks
    masks = sorted((tmp_path / "pairs" / "disparity_occlusions").rglob("*.png"))
    assert masks == [mask_path(tmp_path / "pairs", i) for i in range(2)]
    dataset = SceneFlow(tmp_path / "pairs", split="TEST")
    for index, original in enumerate(samples):
        np.testing.assert_array_equal(dataset[index]["valid_noc"], original["valid_noc"])


def test_occlusion_path_replaces_the_last_disparity_folder(tmp_path: Path) -> None:
    disparity = tmp_path / "disparity" / "sf" / "disparity" / "TRAIN" / "A" / "0000" / "left" / "0006.pfm"
    mask = (
        tmp_path / "disparity" / "sf" / "disparity_occlusions" / "TRAIN" / "A" / "0000" / "left" / "0006.png"
    )
    assert occlusion_path(str(disparity)) is None  # not there (yet)
    mask.parent.mkdir(parents=True)
    mask.write_bytes(b"")
    assert occlusion_path(str(disparity)) == str(mask)
    assert occlusion_path(str(tmp_path / "gt" / "0006.pfm")) is None  # no disparity folder
    assert occlusion_path(None) is None
