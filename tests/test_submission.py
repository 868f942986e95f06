"""Benchmark submissions from each benchmark's own test-folder layout: names, file types, scaling,
runtime files, and the one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.data.readers.base import DatasetLayoutError
from stereo_attn.inference.predict import predict
from stereo_attn.inference.submission import write_submission
from stereo_attn.options import OptionError

from helpers.project import ROOT, SHIPPED_CHECKPOINT

SIZE = (40, 64)


def put_pair(left: Path, right: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    left.parent.mkdir(parents=True, exist_ok=True)
    right.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(left), image)
    cv2.imwrite(str(right), np.roll(image, -3, axis=1))


def kitti_root(root: Path, left: str, right: str) -> Path:
    for index, frame in enumerate(("000001", "000000")):
        put_pair(
            root / "testing" / left / f"{frame}_10.png", root / "testing" / right / f"{frame}_10.png", index
        )
        # The second frames of the scene-flow pairs are not stereo test pairs.
        put_pair(root / "testing" / left / f"{frame}_11.png", root / "testing" / right / f"{frame}_11.png", 9)
    return root


def middlebury_root(root: Path) -> Path:
    for index, scene in enumerate(("Plants", "Bicycle2")):
        put_pair(root / scene / "im0.png", root / scene / "im1.png", index)
        (root / scene / "calib.txt").write_text(
            "cam0=[1 0 0; 0 1 0; 0 0 1]\ncam1=[1 0 0; 0 1 0; 0 0 1]\n"
            "doffs=0\nbaseline=1\nwidth=64\nheight=40\nndisp=32\n"
        )
    return root


def eth3d_root(root: Path) -> Path:
    for index, scene in enumerate(("lakeside_1l", "facade_1s")):
        folder = root / "two_view_test" / scene
        put_pair(folder / "im0.png", folder / "im1.png", index)
    return root


def expected_disparity(left: Path, right: Path) -> np.ndarray:
    network = network_from_checkpoint(SHIPPED_CHECKPOINT)
    images = [cv2.imread(str(p))[..., ::-1].astype(np.float32) / 255 for p in (left, right)]
    return predict(network, [images[0]], [images[1]], torch.device("cpu"))[0][0]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("benchmark", "left", "right"),
    [("kitti2015", "image_2", "image_3"), ("kitti2012", "colored_0", "colored_1")],
)
def test_kitti_submission_is_disp_0_uint16_png_times_256(
    benchmark: str, left: str, right: str, tmp_path: Path
) -> None:
    root = kitti_root(tmp_path / "kitti", left, right)
    summary = write_submission(benchmark, root, tmp_path / "out", SHIPPED_CHECKPOINT, progress=False)
    assert summary["pairs"] == 2
    assert files_under(tmp_path / "out") == ["disp_0/000000_10.png", "disp_0/000001_10.png"]
    written = cv2.imread(str(tmp_path / "out" / "disp_0" / "000000_10.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == SIZE
    expected = expected_disparity(
        root / "testing" / left / "000000_10.png", root / "testing" / right / "000000_10.png"
    )
    np.testing.assert_allclose(written / 256.0, np.maximum(expected, 1 / 256), atol=0.5 / 256 + 1e-6)
    assert written.min() >= 1  # dense: 0 would mean "no prediction" to KITTI


def test_middlebury_submission_is_a_pfm_and_a_time_file_per_scene(tmp_path: Path) -> None:
    root = middlebury_root(tmp_path / "testH")
    write_submission(
        "middlebury", root, tmp_path / "out", SHIPPED_CHECKPOINT, method_name="Mine2", progress=False
    )
    assert files_under(tmp_path / "out") == [
        "Bicycle2/disp0Mine2.pfm", "Bicycle2/timeMine2.txt", "Plants/disp0Mine2.pfm", "Plants/timeMine2.txt",
    ]  # fmt: skip
    # OpenCV's own PFM reader sees the prediction, the right way up.
    written = cv2.imread(str(tmp_path / "out" / "Plants" / "disp0Mine2.pfm"), cv2.IMREAD_UNCHANGED)
    expected = expected_disparity(root / "Plants" / "im0.png", root / "Plants" / "im1.png")
    np.testing.assert_allclose(written, expected, atol=1e-5)
    seconds = float((tmp_path / "out" / "Plants" / "timeMine2.txt").read_text())
    assert 0 < seconds < 60


def test_eth3d_submission_is_low_res_two_view_pfm_and_runtime(tmp_path: Path) -> None:
    root = eth3d_root(tmp_path / "eth3d")
    write_submission("eth3d", root, tmp_path / "out", SHIPPED_CHECKPOINT, progress=False)
    assert files_under(tmp_path / "out") == [
        "low_res_two_view/facade_1s.pfm", "low_res_two_view/facade_1s.txt",
        "low_res_two_view/lakeside_1l.pfm", "low_res_two_view/lakeside_1l.txt",
    ]  # fmt: skip
    written = cv2.imread(str(tmp_path / "out" / "low_res_two_view" / "facade_1s.pfm"), cv2.IMREAD_UNCHANGED)
    folder = root / "two_view_test" / "facade_1s"
    np.testing.assert_allclose(written, expected_disparity(folder / "im0.png", folder / "im1.png"), atol=1e-5)
    word, seconds = (tmp_path / "out" / "low_res_two_view" / "facade_1s.txt").read_text().split()
    assert word == "runtime" and 0 < float(seconds) < 60


def test_onnxruntime_writes_the_submission_torch_writes(shipped_onnx, tmp_path: Path) -> None:
    root = eth3d_root(tmp_path / "eth3d")
    for backend in ("torch", "onnxruntime"):
        summary = write_submission(
            "eth3d", root, tmp_path / backend, SHIPPED_CHECKPOINT, progress=False,
            backend=backend, onnx=shipped_onnx[0],
        )  # fmt: skip
    assert summary["device"] == "onnxruntime cpu"
    assert files_under(tmp_path / "onnxruntime") == files_under(tmp_path / "torch")
    read = lambda backend, scene: cv2.imread(  # noqa: E731
        str(tmp_path / backend / "low_res_two_view" / f"{scene}.pfm"), cv2.IMREAD_UNCHANGED
    )
    for scene in ("facade_1s", "lakeside_1l"):
        assert np.abs(read("onnxruntime", scene) - read("torch", scene)).max() <= 0.01


def test_infer_script_writes_the_kitti_submission_as_its_contract_says(tmp_path: Path) -> None:
    root = kitti_root(tmp_path / "kitti", "image_2", "image_3")
    command = [
        sys.executable, "scripts/infer.py", "data=kitti2015", f"data.root={root}", "format=kitti2015",
        f"output_dir={tmp_path / 'out'}", "progress=false",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert files_under(tmp_path / "out") == ["disp_0/000000_10.png", "disp_0/000001_10.png"]
    # A second run refuses to mix with the first unless told to replace it.
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 1 and "already holds disp_0/000000_10.png" in again.stderr
    assert again.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("benchmark", "extra", "error", "message"),
    [
        ("kitti", {}, OptionError, "format=kitti: expected one of"),
        (
            "middlebury",
            {"method_name": "my method"},
            OptionError,
            "method_name=my method: expected 1-32 letters",
        ),
        ("kitti2015", {}, DatasetLayoutError, "testing/image_2/000000_10.png"),
        ("eth3d", {}, DatasetLayoutError, "two_view_test/<scene>/im0.png"),
    ],
)
def test_bad_submissions_fail_with_one_line_before_writing(
    benchmark: str, extra: dict, error: type, message: str, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(error, match=re.escape(message)):
        write_submission(benchmark, tmp_path / "empty", tmp_path / "out", SHIPPED_CHECKPOINT, **extra)
    assert not (tmp_path / "out").exists()
