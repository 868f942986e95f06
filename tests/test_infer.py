"""scripts/infer.py and its library: finding pairs, calibration, outputs, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stereo_attn.checkpoint import CheckpointError, network_from_checkpoint, read_checkpoint
from stereo_attn.data.io import (
    DataFormatError,
    read_image,
    read_kitti_disparity,
    read_pfm,
    write_image,
)
from stereo_attn.data.synthetic.scenes import SyntheticStereo
from stereo_attn.inference.calibration import Calibration, calibration_from_options, read_calibration
from stereo_attn.inference.pairs import InputError, Pair, find_pairs, output_stems
from stereo_attn.inference.run import infer
from stereo_attn.options import OptionError

from helpers.project import ROOT, SHIPPED_CHECKPOINT

HEIGHT, WIDTH = 75, 131  # odd on purpose: the network pads to multiples of 16 and must crop back


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """left/scene.png and right/scene.png: a generated pair cropped to 75x131."""
    folder = tmp_path_factory.mktemp("pairs")
    sample = SyntheticStereo("test", length=1, seed=0)[0]
    for side in ("left", "right"):
        (folder / side).mkdir()
        write_image(folder / side / "scene.png", np.asarray(sample[side])[:HEIGHT, :WIDTH])
    return folder


def run_script(*arguments: str, tmp_path: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "scripts/infer.py", *arguments, f"hydra.run.dir={tmp_path / 'hydra'}"]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )


def direct_prediction(left: Path, right: Path) -> np.ndarray:
    network = network_from_checkpoint(SHIPPED_CHECKPOINT)
    images = [torch.from_numpy(read_image(p)).permute(2, 0, 1)[None] for p in (left, right)]
    with torch.inference_mode():
        return network(*images)["disparity"][0].numpy()


def test_script_writes_the_networks_disparity_depth_and_point_cloud(pair_dir: Path, tmp_path: Path) -> None:
    left, right, out = pair_dir / "left" / "scene.png", pair_dir / "right" / "scene.png", tmp_path / "out"
    focal, baseline = 120.0, 0.25
    done = run_script(
        f"left={left}",
        f"right={right}",
        f"output_dir={out}",
        f"focal_length={focal}",
        f"baseline={baseline}",
        tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert str(out) in done.stdout and "1 pair" in done.stdout

    disparity = read_pfm(out / "scene.pfm")
    assert disparity.shape == (HEIGHT, WIDTH) and np.isfinite(disparity).all()
    np.testing.assert_allclose(disparity, direct_prediction(left, right), atol=1e-4)

    decoded, valid = read_kitti_disparity(out / "scene_disp16.png")
    assert valid.all()
    assert np.abs(decoded - disparity).max() <= 1 / 256 + 1e-6

    colour = read_image(out / "scene_color.png")
    assert colour.shape[0] == HEIGHT and colour.shape[1] > WIDTH
    assert read_image(out / "scene_confidence.png").shape[:2] == (HEIGHT, WIDTH)

    depth = read_pfm(out / "scene_depth.pfm")
    positive = disparity > 0
    np.testing.assert_allclose(depth[positive], focal * baseline / disparity[positive], rtol=1e-5)
    assert np.isinf(depth[~positive]).all()
    header = (out / "scene.ply").read_bytes().split(b"end_header\n")[0].decode()
    assert f"element vertex {int(positive.sum())}" in header
    assert "format binary_little_endian 1.0" in header and "property uchar red" in header


def test_folder_and_glob_modes_match_by_file_name(tmp_path: Path) -> None:
    for side in ("left", "right"):
        (tmp_path / side).mkdir()
        for name in ("b.png", "a.jpg", "notes.txt"):
            (tmp_path / side / name).write_bytes(b"")
    (tmp_path / "right" / "extra.png").write_bytes(b"")
    pairs = find_pairs(str(tmp_path / "left"), str(tmp_path / "right"))
    assert [(p.left.name, p.right.parent.name, p.right.name) for p in pairs] == [
        ("a.jpg", "right", "a.jpg"),
        ("b.png", "right", "b.png"),
    ]
    pairs = find_pairs(str(tmp_path / "left" / "*.png"), str(tmp_path / "right" / "*.png"))
    assert [p.left.stem for p in pairs] == ["b"]

    (tmp_path / "left" / "lonely.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"lonely\.png: no right image"):
        find_pairs(str(tmp_path / "left"), str(tmp_path / "right"))


def test_globs_match_by_what_their_wildcards_match(tmp_path: Path) -> None:
    # Middlebury's layout: every right image is im1.png, so file names cannot pair them.
    for scene in ("Aloe", "Bowling", "Cloth"):
        (tmp_path / "scenes" / scene).mkdir(parents=True)
        for name in ("im0.png", "im1.png", "disp0.pfm"):
            (tmp_path / "scenes" / scene / name).write_bytes(b"")
    (tmp_path / "scenes" / "Cloth" / "im1.png").unlink()
    left, right = str(tmp_path / "scenes" / "*" / "im0.png"), str(tmp_path / "scenes" / "*" / "im1.png")
    with pytest.raises(InputError, match=r"Cloth/im0\.png: no right image matches it \(by 'Cloth'\)"):
        find_pairs(left, right)
    (tmp_path / "scenes" / "Cloth" / "im1.png").write_bytes(b"")
    pairs = find_pairs(left, right)
    assert [(p.left.parent.name, p.right.parent.name, p.right.name) for p in pairs] == [
        (scene, scene, "im1.png") for scene in ("Aloe", "Bowling", "Cloth")
    ]
    assert output_stems(pairs) == ["Aloe_im0", "Bowling_im0", "Cloth_im0"]
    # Character classes are wildcards too; both sides need as many wildcards.
    scenes = tmp_path / "scenes"
    pairs = find_pairs(str(scenes / "[AB]*" / "im0.png"), str(scenes / "[AB]*" / "im1.png"))
    assert [p.left.parent.name for p in pairs] == ["Aloe", "Bowling"]
    with pytest.raises(InputError, match="differ in their wildcards"):
        find_pairs(str(scenes / "*" / "im?.png"), str(scenes / "*" / "im1.png"))


def test_list_mode_resolves_paths_relative_to_the_list(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    listing = tmp_path / "lists" / "pairs.txt"
    listing.write_text("# left right\n\nl/1.png r/1.png\n  /abs/2.png r/2.png  # second\n")
    pairs = find_pairs(pair_list=str(listing))
    assert pairs == [
        Pair(tmp_path / "lists" / "l" / "1.png", tmp_path / "lists" / "r" / "1.png"),
        Pair(Path("/abs/2.png"), tmp_path / "lists" / "r" / "2.png"),
    ]
    listing.write_text("only_one.png\n")
    with pytest.raises(InputError, match=r"pairs\.txt:1: expected 'left_path right_path'"):
        find_pairs(pair_list=str(listing))


def test_shared_stems_get_their_relative_paths_and_empty_inputs_are_errors(tmp_path: Path) -> None:
    for sequence in ("0000", "0001"):
        for side in ("left", "right"):
            (tmp_path / sequence / side).mkdir(parents=True)
            (tmp_path / sequence / side / "0006.png").write_bytes(b"")
    listing = tmp_path / "pairs.txt"
    listing.write_text("0000/left/0006.png 0000/right/0006.png\n0001/left/0006.png 0001/right/0006.png\n")
    assert output_stems(find_pairs(pair_list=str(listing))) == ["0000_left_0006", "0001_left_0006"]
    listing.write_text("0000/left/0006.png 0000/right/0006.png\n0000/left/0006.png 0001/right/0006.png\n")
    with pytest.raises(InputError, match=r"0006\.png is given twice"):
        find_pairs(pair_list=str(listing))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"left=.*empty: the folder holds no images"):
        find_pairs(str(tmp_path / "empty"), str(tmp_path / "0000" / "right"))
    with pytest.raises(InputError, match=r"left=.*\*\.bmp: the glob matches no files"):
        find_pairs(str(tmp_path / "*.bmp"), str(tmp_path / "0000" / "right" / "*.bmp"))
    with pytest.raises(InputError, match="give two files, two folders or two globs"):
        find_pairs(str(tmp_path / "0000" / "left"), str(tmp_path / "0000" / "right" / "*.png"))


def test_middlebury_calib(tmp_path: Path) -> None:
    path = tmp_path / "calib.txt"
    path.write_text(
        "cam0=[1000 0 300; 0 1000 200; 0 0 1]\ncam1=[1000 0 310; 0 1000 200; 0 0 1]\n"
        "doffs=10\nbaseline=200\nwidth=640\nheight=480\nndisp=128\n"
    )
    calibration = read_calibration(path)
    assert calibration == Calibration(focal_length=1000, baseline=0.2, doffs=10, cx=300, cy=200)
    # 0.2 m * 1000 px / (30 + 10) px = 5 m; disparity 0 has no depth.
    np.testing.assert_allclose(calibration.depth(np.array([[30.0, 0.0]])), [[5.0, np.inf]])
    path.write_text("cam0=[1000 0 300; 0 1000 200; 0 0 1]\ncam1=[1000 0 310; 0 1000 200; 0 0 1]\nndisp=9\n")
    with pytest.raises(DataFormatError, match=r"calib\.txt: calibration lacks doffs, baseline"):
        calibration_from_options(str(path), None, None)


def test_kitti_calib(tmp_path: Path) -> None:
    path = tmp_path / "calib_cam_to_cam.txt"
    path.write_text(
        "calib_time: 09-Jan-2012 13:57:47\n"
        "P_rect_02: 7.2e+02 0 6.0e+02 4.5e+01 0 7.2e+02 1.7e+02 0.2 0 0 1 0.003\n"
        "P_rect_03: 7.2e+02 0 6.0e+02 -3.3e+02 0 7.2e+02 1.7e+02 2.0 0 0 1 0.003\n"
    )
    calibration = read_calibration(path)
    # |-330 - 45| / 720 = 0.520833 m.
    assert calibration.focal_length == 720 and calibration.baseline == pytest.approx(375 / 720)
    assert (calibration.cx, calibration.cy, calibration.doffs) == (600, 170, 0)
    path.write_text("P_rect_02: 7.2e+02 0 6.0e+02 4.5e+01 0 7.2e+02 1.7e+02 0.2 0 0 1 0.003\n")
    with pytest.raises(DataFormatError, match=r"calib_cam_to_cam\.txt: calibration lacks P_rect_03"):
        read_calibration(path)
    with pytest.raises(ValueError, match="baseline is missing"):
        calibration_from_options(None, 700.0, None)


def test_smaller_max_disparity_works_and_larger_is_an_error(pair_dir: Path, tmp_path: Path) -> None:
    pairs = find_pairs(str(pair_dir / "left"), str(pair_dir / "right"))
    summary = infer(
        pairs, tmp_path / "out", SHIPPED_CHECKPOINT, max_disparity=48, device="cpu", progress=False
    )
    assert summary["max_disparity"] == 48 and summary["pairs"] == 1
    disparity = read_pfm(tmp_path / "out" / "scene.pfm")
    # Soft-argmin over 12 quarter-resolution bins: at most 4 * 11 = 44 px after convex upsampling.
    assert disparity.shape == (HEIGHT, WIDTH) and np.isfinite(disparity).all() and disparity.max() <= 48
    with pytest.raises(OptionError, match="max_disparity=200 exceeds the checkpoint's 96"):
        infer(pairs, tmp_path / "other", SHIPPED_CHECKPOINT, max_disparity=200, progress=False)
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("problem", ["sizes", "checkpoint"])
def test_script_errors_are_one_line_and_write_nothing(problem: str, pair_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    left, right = pair_dir / "left" / "scene.png", pair_dir / "right" / "scene.png"
    arguments = [f"left={left}", f"right={right}", f"output_dir={out}"]
    if problem == "sizes":
        right = tmp_path / "narrow.png"
        write_image(right, read_image(left)[:, :-1])
        arguments[1] = f"right={right}"
        name = "narrow.png"
    else:
        arguments.append(f"checkpoint={tmp_path / 'missing.ckpt'}")
        name = "missing.ckpt"
    done = run_script(*arguments, tmp_path=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], done.stderr
    assert list(out.iterdir()) == []


def test_library_errors_name_the_file_and_write_nothing(pair_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = Pair(pair_dir / "left" / "scene.png", pair_dir / "right" / "scene.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    # The bad pair comes second: nothing may be written for the good first one either.
    with pytest.raises(DataFormatError, match=r"broken\.png: an unrecognised file"):
        infer([good, Pair(broken, good.right)], out, SHIPPED_CHECKPOINT, progress=False)
    assert not out.exists()

    checkpoint = read_checkpoint(SHIPPED_CHECKPOINT)
    key = next(k for k, v in checkpoint["state_dict"].items() if v.ndim == 4)
    checkpoint["state_dict"][key] = torch.zeros(3, 3, 3, 3)
    other = tmp_path / "other_architecture.ckpt"
    torch.save(checkpoint, other)
    with pytest.raises(CheckpointError, match=r"other_architecture\.ckpt: weights do not fit"):
        infer([good], out, other, progress=False)
    with pytest.raises(CheckpointError, match=r"missing\.ckpt: checkpoint not found"):
        infer([good], out, tmp_path / "missing.ckpt", progress=False)
    assert not out.exists()
