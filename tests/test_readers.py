"""Benchmark readers on tiny fixture trees written in each benchmark's exact layout."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stereo_attn.data.io import DataFormatError, write_pfm
from stereo_attn.data.readers.base import (
    DatasetLayoutError,
    StereoDataset,
    read_checked,
    read_file_list,
    write_file_list,
)
from stereo_attn.data.readers.eth3d import ETH3D
from stereo_attn.data.readers.kitti import Kitti2012, Kitti2015
from stereo_attn.data.readers.middlebury import Middlebury2014
from stereo_attn.data.readers.sceneflow import SceneFlow, scan_sceneflow
from stereo_attn.data.sample import to_tensors
from stereo_attn.inference.calibration import parse_calib

from helpers.datasets import (
    CALIB,
    KITTI,
    H,
    W,
    expected_valid,
    make_eth3d,
    make_kitti,
    make_middlebury,
    make_sceneflow,
    put_image,
    put_pfm,
    sf_expected,
)

# ------------------------------------------------------------------------------------------- Scene Flow


@pytest.mark.parametrize("layout", ["merged", "per-subset"])
@pytest.mark.parametrize("pass_name", ["finalpass", "cleanpass"])
def test_sceneflow_pairs_order_and_contents(tmp_path: Path, layout: str, pass_name: str) -> None:
    written = make_sceneflow(tmp_path, layout)
    dataset = SceneFlow(tmp_path, split="TRAIN", pass_name=pass_name)
    expected = sf_expected(tmp_path, layout, "TRAIN", pass_name)
    assert [entry["left"] for entry in dataset.entries] == expected
    assert len(dataset) == 8
    for index, left_path in enumerate(expected):
        left, right, disparity, subset, _, written_pass = written[left_path]
        assert written_pass == pass_name
        sample = dataset[index]
        np.testing.assert_allclose(sample["left"], left, atol=1e-6)
        np.testing.assert_allclose(sample["right"], right, atol=1e-6)
        valid = expected_valid(disparity)
        np.testing.assert_array_equal(sample["valid"], valid)
        np.testing.assert_array_equal(sample["valid_noc"], valid)
        np.testing.assert_array_equal(sample["disparity"], np.where(valid, disparity, 0))
        meta = sample["meta"]
        assert meta["dataset"] == "sceneflow"
        assert meta["subset"] == subset
        assert meta["left_path"] == left_path
        assert meta["right_path"] == left_path.replace("/left/", "/right/")
        base = tmp_path / subset if layout == "per-subset" else tmp_path
        relative = os.path.relpath(left_path, base / f"frames_{pass_name}")
        assert meta["disparity_path"] == str(base / "disparity" / relative[: -len(".png")]) + ".pfm"
        assert meta["original_size"] == (H, W)


@pytest.mark.parametrize("layout", ["merged", "per-subset"])
def test_sceneflow_test_split_is_flyingthings_only(tmp_path: Path, layout: str) -> None:
    make_sceneflow(tmp_path, layout)
    test = SceneFlow(tmp_path, split="TEST")
    assert [e["left"] for e in test.entries] == sf_expected(tmp_path, layout, "TEST", "finalpass")
    assert {test[i]["meta"]["subset"] for i in range(len(test))} == {"FlyingThings3D"}
    train = SceneFlow(tmp_path, split="TRAIN")
    assert not {e["left"] for e in train.entries} & {e["left"] for e in test.entries}
    assert sum("/TEST/" in e["left"] for e in train.entries) == 0
    # Monkaa and Driving only ever appear in TRAIN.
    with pytest.raises(DatasetLayoutError, match="TEST"):
        SceneFlow(tmp_path, split="TEST", subsets=("Monkaa", "Driving"))
    monkaa = SceneFlow(tmp_path, split="TRAIN", subsets=("Monkaa",))
    assert [e["left"] for e in monkaa.entries] == sf_expected(
        tmp_path, layout, "TRAIN", "finalpass", {"Monkaa"}
    )
    driving = SceneFlow(tmp_path, subsets=("Driving",))
    assert [e["left"] for e in driving.entries] == sf_expected(
        tmp_path, layout, "TRAIN", "finalpass", {"Driving"}
    )


def test_sceneflow_rejects_unknown_choices(tmp_path: Path) -> None:
    make_sceneflow(tmp_path, "merged")
    for kwargs in ({"split": "train"}, {"pass_name": "final"}, {"subsets": ("FlyingThings",)}):
        with pytest.raises(ValueError, match="choose from"):
            SceneFlow(tmp_path, **kwargs)


def test_sceneflow_missing_disparity_names_the_file(tmp_path: Path) -> None:
    make_sceneflow(tmp_path, "merged")
    missing = tmp_path / "disparity" / "eating_x2" / "left" / "0001.pfm"
    missing.unlink()
    with pytest.raises(DatasetLayoutError, match=re.escape(str(missing))):
        SceneFlow(tmp_path)


def test_file_list_round_trip_equals_scanning(tmp_path: Path) -> None:
    root = tmp_path / "sceneflow"
    make_sceneflow(root, "merged")
    entries = scan_sceneflow(root, "TRAIN", "cleanpass")
    list_path = tmp_path / "lists" / "sceneflow_train.txt"
    write_file_list(list_path, entries, root)
    lines = list_path.read_text().splitlines()
    assert len(lines) == len(entries) == 8
    assert lines[0] == (
        "frames_cleanpass/TRAIN/A/0000/left/0006.png frames_cleanpass/TRAIN/A/0000/right/0006.png "
        "disparity/TRAIN/A/0000/left/0006.pfm"
    )
    assert os.listdir(list_path.parent) == ["sceneflow_train.txt"]  # no temporary file left behind
    assert read_file_list(list_path, root) == entries

    listed = SceneFlow(root, file_list=list_path)
    scanned = SceneFlow(root, pass_name="cleanpass")
    assert listed.entries == scanned.entries
    a, b = listed[4], scanned[4]
    for key in ("left", "right", "disparity", "valid", "valid_noc"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a["meta"] == b["meta"]


def test_file_list_without_disparity_and_comments(tmp_path: Path) -> None:
    left = put_image(tmp_path / "a" / "l.png", "l")
    put_image(tmp_path / "a" / "r.png", "r")
    list_path = tmp_path / "list.txt"
    list_path.write_text("# left right\n\n  a/l.png   a/r.png  \n")
    entries = read_file_list(list_path, tmp_path)
    assert entries == [
        {"left": str(tmp_path / "a/l.png"), "right": str(tmp_path / "a/r.png"), "disparity": None}
    ]
    sample = SceneFlow(tmp_path, file_list=list_path)[0]
    np.testing.assert_allclose(sample["left"], left, atol=1e-6)
    assert not sample["valid"].any() and sample["meta"]["disparity_path"] == ""
    write_file_list(tmp_path / "again.txt", entries, tmp_path)
    assert (tmp_path / "again.txt").read_text() == "a/l.png a/r.png\n"


def test_file_list_errors_name_the_list_line_and_file(tmp_path: Path) -> None:
    put_image(tmp_path / "l.png", "l")
    put_image(tmp_path / "r.png", "r")
    list_path = tmp_path / "list.txt"
    list_path.write_text("l.png r.png\nl.png r.png d.pfm extra\n")
    with pytest.raises(DatasetLayoutError, match=re.escape(f"{list_path}:2: ") + ".*4 field"):
        read_file_list(list_path, tmp_path)
    list_path.write_text("l.png r.png\nl.png\n")
    with pytest.raises(DatasetLayoutError, match=re.escape(f"{list_path}:2: ")):
        read_file_list(list_path, tmp_path)
    list_path.write_text("l.png r.png\nl.png r.png gone/d.pfm\n")
    with pytest.raises(
        DatasetLayoutError,
        match=re.escape(f"{list_path}:2: ") + ".*" + re.escape(str(tmp_path / "gone" / "d.pfm")),
    ):
        SceneFlow(tmp_path, file_list=list_path)
    with pytest.raises(DatasetLayoutError, match=re.escape(str(tmp_path / "nolist.txt"))):
        read_file_list(tmp_path / "nolist.txt", tmp_path)
    list_path.write_text("# nothing\n")
    with pytest.raises(DatasetLayoutError, match=re.escape(str(tmp_path))):
        SceneFlow(tmp_path, file_list=list_path)


def test_write_file_list_refuses_paths_outside_root(tmp_path: Path) -> None:
    entry = {"left": str(tmp_path / "x" / "l.png"), "right": str(tmp_path / "x" / "r.png"), "disparity": None}
    with pytest.raises(ValueError, match="not under"):
        write_file_list(tmp_path / "list.txt", [entry], tmp_path / "y")
    with pytest.raises(ValueError, match="whitespace"):
        write_file_list(tmp_path / "list.txt", [{**entry, "left": str(tmp_path / "a b.png")}], tmp_path)
    assert not (tmp_path / "list.txt").exists()


# ------------------------------------------------------------------------------------------------ KITTI


@pytest.mark.parametrize(("cls", "name", "folders"), KITTI)
def test_kitti_training(tmp_path: Path, cls, name: str, folders) -> None:
    written = make_kitti(tmp_path, folders)
    dataset = cls(tmp_path)
    assert len(dataset) == 3
    assert [Path(e["left"]).name for e in dataset.entries] == [
        "000000_10.png",
        "000001_10.png",
        "000002_10.png",
    ]
    for index, frame in enumerate(("000000", "000001", "000002")):
        left, right, occ, valid, noc_valid = written[frame]
        sample = dataset[index]
        np.testing.assert_allclose(sample["left"], left, atol=1e-6)
        np.testing.assert_allclose(sample["right"], right, atol=1e-6)
        np.testing.assert_array_equal(sample["disparity"], occ)
        np.testing.assert_array_equal(sample["valid"], valid)
        assert not valid.all() and (sample["disparity"][~valid] == 0).all()
        np.testing.assert_array_equal(sample["valid_noc"], noc_valid & valid)
        meta = sample["meta"]
        assert meta["dataset"] == name
        assert meta["name"] == f"{frame}_10"
        assert meta["left_path"] == str(tmp_path / "training" / folders[0] / f"{frame}_10.png")
        assert meta["right_path"] == str(tmp_path / "training" / folders[1] / f"{frame}_10.png")
        assert meta["disparity_path"] == str(tmp_path / "training" / folders[2] / f"{frame}_10.png")
        assert meta["original_size"] == (H, W)


@pytest.mark.parametrize(("cls", "name", "folders"), KITTI)
def test_kitti_testing_has_no_ground_truth(tmp_path: Path, cls, name: str, folders) -> None:
    make_kitti(tmp_path, folders)
    dataset = cls(tmp_path, split="testing")
    assert [Path(e["left"]).name for e in dataset.entries] == ["000000_10.png", "000001_10.png"]
    sample = dataset[1]
    assert sample["meta"]["dataset"] == name and sample["meta"]["disparity_path"] == ""
    assert not sample["valid"].any() and not sample["valid_noc"].any() and not sample["disparity"].any()


def test_kitti_without_noc_folder_uses_occ(tmp_path: Path) -> None:
    written = make_kitti(tmp_path, KITTI[0][2])
    for file in (tmp_path / "training" / "disp_noc_0").iterdir():
        file.unlink()
    (tmp_path / "training" / "disp_noc_0").rmdir()
    sample = Kitti2015(tmp_path)[0]
    np.testing.assert_array_equal(sample["valid_noc"], written["000000"][3])


def test_kitti_batches_through_a_dataloader(tmp_path: Path) -> None:
    make_kitti(tmp_path, KITTI[0][2])
    loader = torch.utils.data.DataLoader(Kitti2015(tmp_path, transform=to_tensors), batch_size=3)
    batch = next(iter(loader))
    assert batch["left"].shape == (3, 3, H, W) and batch["valid_noc"].dtype == torch.bool
    assert batch["meta"]["name"] == ["000000_10", "000001_10", "000002_10"]


# ------------------------------------------------------------------------------------------- Middlebury


def test_middlebury_scenes_ground_truth_and_masks(tmp_path: Path) -> None:
    written = make_middlebury(tmp_path)
    dataset = Middlebury2014(tmp_path)
    assert [e["scene"] for e in dataset.entries] == ["Adirondack", "Australia", "Motorcycle"]
    for index, scene in enumerate(["Adirondack", "Australia", "Motorcycle"]):
        sample = dataset[index]
        np.testing.assert_allclose(sample["left"], written[scene][0], atol=1e-6)
        np.testing.assert_allclose(sample["right"], written[scene][1], atol=1e-6)
        meta = sample["meta"]
        assert meta["dataset"] == "middlebury2014" and meta["name"] == scene
        assert meta["left_path"] == str(tmp_path / scene / "im0.png")
        assert meta["right_path"] == str(tmp_path / scene / "im1.png")
        if scene == "Australia":
            assert not sample["valid"].any() and meta["disparity_path"] == ""
            continue
        disparity, mask = written[scene][2:]
        valid = np.isfinite(disparity)
        assert not valid.all()
        np.testing.assert_array_equal(sample["valid"], valid)
        np.testing.assert_array_equal(sample["disparity"], np.where(valid, disparity, 0))
        if mask is None:
            assert meta["disparity_path"] == str(tmp_path / scene / "disp0.pfm")
            np.testing.assert_array_equal(sample["valid_noc"], valid)
        else:
            assert meta["disparity_path"] == str(tmp_path / scene / "disp0GT.pfm")
            assert (mask == 128).any() and (mask == 255).any()
            np.testing.assert_array_equal(sample["valid_noc"], valid & (mask == 255))


def test_middlebury_prefers_disp0gt_and_filters_scenes(tmp_path: Path) -> None:
    make_middlebury(tmp_path)
    gt = put_pfm(tmp_path / "Motorcycle" / "disp0GT.pfm", "M-GT")
    dataset = Middlebury2014(tmp_path, scenes=["Motorcycle"])
    assert len(dataset) == 1
    sample = dataset[0]
    assert sample["meta"]["disparity_path"].endswith("disp0GT.pfm")
    np.testing.assert_array_equal(sample["disparity"], np.where(np.isfinite(gt), gt, 0))
    with pytest.raises(DatasetLayoutError, match="Playroom"):
        Middlebury2014(tmp_path, scenes=["Playroom"])


def test_middlebury_calibration(tmp_path: Path) -> None:
    make_middlebury(tmp_path)
    calib = Middlebury2014(tmp_path)[0]["meta"]["calib"]
    assert calib == {
        "focal_length": 3997.684,
        "baseline": 193.001,
        "doffs": 131.111,
        "ndisp": 280,
        "cx0": 1176.728,
        "cx1": 1307.839,
        "cy": 1011.728,
    }
    assert Middlebury2014(tmp_path, scenes=["Motorcycle"])[0]["meta"]["calib"]["ndisp"] == 270


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            CALIB.replace("cam1=[3997.684 0 1307.839; 0 3997.684 1011.728; 0 0 1]", "cam1=[1 2 3; 4 5 6]"),
            "3x3",
        ),
        (CALIB.replace("baseline=193.001", "baseline=abc"), "baseline"),
        (CALIB.replace("doffs=131.111\n", ""), "doffs"),
        (CALIB.replace("ndisp=280", "ndisp 280"), "key=value"),
        (CALIB.replace("0 3997.684 1011.728; 0 0 1]\ncam1", "0 3997.684 x; 0 0 1]\ncam1"), "cam0"),
    ],
)
def test_middlebury_malformed_calib_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    make_middlebury(tmp_path)
    calib = tmp_path / "Adirondack" / "calib.txt"
    calib.write_text(text)
    with pytest.raises(DataFormatError, match=re.escape(str(calib)) + ".*" + problem):
        Middlebury2014(tmp_path)
    with pytest.raises(DataFormatError, match=re.escape(str(calib))):
        parse_calib(calib)


# ------------------------------------------------------------------------------------------------ ETH3D


def test_eth3d_training(tmp_path: Path) -> None:
    written = make_eth3d(tmp_path)
    dataset = ETH3D(tmp_path)
    assert [e["scene"] for e in dataset.entries] == ["delivery_area_1l", "electro_1l"]
    for index, scene in enumerate(["delivery_area_1l", "electro_1l"]):
        left, right, disparity, mask = written[scene]
        sample = dataset[index]
        np.testing.assert_allclose(sample["left"], left, atol=1e-6)
        np.testing.assert_allclose(sample["right"], right, atol=1e-6)
        valid = np.isfinite(disparity)
        np.testing.assert_array_equal(sample["valid"], valid)
        np.testing.assert_array_equal(sample["disparity"], np.where(valid, disparity, 0))
        np.testing.assert_array_equal(sample["valid_noc"], valid & (mask == 255))
        meta = sample["meta"]
        assert meta["dataset"] == "eth3d" and meta["name"] == scene
        assert meta["left_path"] == str(tmp_path / "two_view_training" / scene / "im0.png")
        assert meta["disparity_path"] == str(tmp_path / "two_view_training_gt" / scene / "disp0GT.pfm")


def test_eth3d_test_split(tmp_path: Path) -> None:
    written = make_eth3d(tmp_path)
    dataset = ETH3D(tmp_path, split="test")
    assert [e["scene"] for e in dataset.entries] == ["facade_1s", "lakeside_1l"]
    sample = dataset[1]
    np.testing.assert_allclose(sample["right"], written["lakeside_1l"][1], atol=1e-6)
    assert not sample["valid"].any() and sample["meta"]["disparity_path"] == ""


def test_eth3d_missing_ground_truth_names_the_file(tmp_path: Path) -> None:
    make_eth3d(tmp_path)
    missing = tmp_path / "two_view_training_gt" / "electro_1l" / "mask0nocc.png"
    missing.unlink()
    with pytest.raises(DatasetLayoutError, match=re.escape(str(missing))):
        ETH3D(tmp_path)


def test_mask_size_mismatch_names_the_mask(tmp_path: Path) -> None:
    make_eth3d(tmp_path)
    mask = tmp_path / "two_view_training_gt" / "electro_1l" / "mask0nocc.png"
    assert cv2.imwrite(str(mask), np.full((H + 1, W), 255, np.uint8))
    with pytest.raises(DataFormatError, match=re.escape(str(mask))):
        ETH3D(tmp_path)[1]


# --------------------------------------------------------------------------------------- layout errors

READERS = {
    "sceneflow": (lambda root: SceneFlow(root), "frames_finalpass"),
    "kitti2015": (lambda root: Kitti2015(root), "image_2"),
    "kitti2012": (lambda root: Kitti2012(root), "colored_0"),
    "middlebury2014": (lambda root: Middlebury2014(root), "im0.png"),
    "eth3d": (lambda root: ETH3D(root), "two_view_training"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("state", ["missing", "empty", "file"])
def test_bad_root_is_one_line_naming_path_and_layout(tmp_path: Path, reader: str, state: str) -> None:
    build, layout_word = READERS[reader]
    root = tmp_path / "data"
    if state == "empty":
        root.mkdir()
    elif state == "file":
        root.write_text("not a folder")
    with pytest.raises(DatasetLayoutError) as info:
        build(root)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{root}: ")
    assert layout_word in message and "expected" in message


def test_empty_entry_list_names_root_and_layout() -> None:
    with pytest.raises(DatasetLayoutError, match=r"^/some/root: no stereo pairs found; expected left/right"):
        StereoDataset([], root="/some/root", expected="left/right pairs")


# ---------------------------------------------------------------------------------------- file errors


def test_size_mismatch_names_the_right_image(tmp_path: Path) -> None:
    make_kitti(tmp_path, KITTI[0][2])
    right = tmp_path / "training" / "image_3" / "000001_10.png"
    put_image(right, "small", size=(H, W - 2))
    dataset = Kitti2015(tmp_path)
    dataset[0]
    with pytest.raises(ValueError, match=re.escape(str(right))):
        dataset[1]


def test_disparity_size_mismatch_names_the_disparity(tmp_path: Path) -> None:
    make_middlebury(tmp_path)
    disparity = tmp_path / "Adirondack" / "disp0GT.pfm"
    write_pfm(disparity, np.ones((H, W + 1), np.float32))
    with pytest.raises(ValueError, match=re.escape(str(disparity))):
        Middlebury2014(tmp_path)[0]


@pytest.mark.parametrize(
    ("relative", "index"),
    [
        ("training/image_2/000002_10.png", 2),
        ("training/image_3/000000_10.png", 0),
        ("training/disp_noc_0/000001_10.png", 1),
    ],
)
def test_truncated_png_names_the_file(tmp_path: Path, relative: str, index: int) -> None:
    make_kitti(tmp_path, KITTI[0][2])
    path = tmp_path / relative
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    dataset = Kitti2015(tmp_path)
    with pytest.raises((ValueError, OSError)) as info:
        dataset[index]
    assert str(path) in str(info.value)


def test_truncated_pfm_names_the_file(tmp_path: Path) -> None:
    make_sceneflow(tmp_path, "merged")
    path = tmp_path / "disparity" / "TRAIN" / "A" / "0000" / "left" / "0007.pfm"
    path.write_bytes(path.read_bytes()[:-10])
    dataset = SceneFlow(tmp_path)
    with pytest.raises((ValueError, OSError)) as info:
        dataset[1]
    assert str(path) in str(info.value)


def test_file_removed_after_scanning_names_the_file(tmp_path: Path) -> None:
    make_eth3d(tmp_path)
    dataset = ETH3D(tmp_path)
    path = tmp_path / "two_view_training" / "delivery_area_1l" / "im1.png"
    path.unlink()
    with pytest.raises(OSError, match=re.escape(str(path))):
        dataset[0]


def test_read_checked_puts_the_path_into_generic_errors() -> None:
    def failing(exc: Exception):
        def reader(path: str):
            raise exc

        return reader

    with pytest.raises(DataFormatError, match=r"^/d/x\.png: cannot read \(RuntimeError: boom\)"):
        read_checked(failing(RuntimeError("boom")), "/d/x.png")
    with pytest.raises(FileNotFoundError, match=r"^/d/x\.png: no such file"):
        read_checked(failing(FileNotFoundError(2, "gone")), "/d/x.png")
    original = DataFormatError("/d/x.png: bad magic")
    with pytest.raises(DataFormatError) as info:
        read_checked(failing(original), "/d/x.png")
    assert info.value is original


def test_sceneflow_warns_about_absent_subsets(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_sceneflow(tmp_path, "per-subset")
    shutil.rmtree(tmp_path / "Driving")
    with caplog.at_level("WARNING", logger="stereo_attn.data.readers.sceneflow"):
        dataset = SceneFlow(tmp_path)
    assert len(dataset) == 6
    assert "no Driving pairs" in caplog.text and "Monkaa" not in caplog.text
