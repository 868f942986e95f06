"""Video through the network: two videos or one side by side, a disparity video with one colour range,
per-frame PFMs equal to predicting the decoded frames, and one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.inference.pairs import InputError
from stereo_attn.inference.predict import predict
from stereo_attn.inference.video import disparity_frame, infer_video

from helpers.project import ROOT, SHIPPED_CHECKPOINT

HEIGHT, WIDTH, FRAMES = 48, 96, 5


def scene(frame: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured left view drifting right over the frames, and its right view 4 px to the left."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (HEIGHT, WIDTH + 40, 3), dtype=np.uint8), (3, 3), 0)
    left = texture[:, 2 * frame : 2 * frame + WIDTH]
    return left, np.roll(left, -4, axis=1)


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    writer = imageio.get_writer(
        str(path), format="FFMPEG", fps=10, codec="libx264", quality=9, macro_block_size=1
    )
    for frame in frames:
        writer.append_data(frame)
    writer.close()
    return path


def decoded(path: Path) -> list[np.ndarray]:
    return [np.asarray(f, np.float32) / 255 for f in imageio.get_reader(str(path), format="FFMPEG")]


@pytest.fixture
def videos(tmp_path: Path) -> tuple[Path, Path]:
    views = [scene(i) for i in range(FRAMES)]
    return (
        write_video(tmp_path / "left.mp4", [left for left, _ in views]),
        write_video(tmp_path / "right.mp4", [right for _, right in views]),
    )


def network_on(lefts: list[np.ndarray], rights: list[np.ndarray]) -> np.ndarray:
    network = network_from_checkpoint(SHIPPED_CHECKPOINT)
    return np.concatenate(
        [predict(network, [a], [b], torch.device("cpu"))[0] for a, b in zip(lefts, rights, strict=True)]
    )


def test_two_videos_give_a_disparity_video_and_per_frame_pfms(videos, tmp_path: Path) -> None:
    left, right = videos
    out = tmp_path / "out"
    summary = infer_video(left, right, out, SHIPPED_CHECKPOINT, batch_size=2, pfm_frames=True, progress=False)
    assert summary["pairs"] == FRAMES
    frames = decoded(out / "left_disparity.mp4")
    assert len(frames) == FRAMES and frames[0].shape[0] == HEIGHT and frames[0].shape[1] % 2 == 0
    pfms = sorted((out / "left_frames").glob("*.pfm"))
    assert [p.name for p in pfms] == [f"{i:06d}.pfm" for i in range(FRAMES)]
    # Each PFM is the network on the frames as the decoder gives them (read back by OpenCV's PFM reader).
    expected = network_on(decoded(left), decoded(right))
    for index, path in enumerate(pfms):
        np.testing.assert_allclose(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), expected[index], atol=1e-4)


def test_a_side_by_side_video_is_split_into_its_halves(videos, tmp_path: Path) -> None:
    sbs = write_video(tmp_path / "sbs.mp4", [np.concatenate(scene(i), axis=1) for i in range(FRAMES)])
    out = tmp_path / "out"
    infer_video(sbs, None, out, SHIPPED_CHECKPOINT, layout="sbs", pfm_frames=True, progress=False)
    halves = decoded(sbs)
    expected = network_on([f[:, :WIDTH] for f in halves], [f[:, WIDTH:] for f in halves])
    last = cv2.imread(str(out / "sbs_frames" / f"{FRAMES - 1:06d}.pfm"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(last, expected[-1], atol=1e-4)
    assert sorted(p.name for p in out.iterdir()) == ["sbs_disparity.mp4", "sbs_frames"]


def test_onnxruntime_runs_a_video_as_torch_does(videos, shipped_onnx, tmp_path: Path) -> None:
    left, right = videos
    for backend in ("torch", "onnxruntime"):
        summary = infer_video(
            left, right, tmp_path / backend, SHIPPED_CHECKPOINT, batch_size=2, pfm_frames=True,
            progress=False, backend=backend, onnx=shipped_onnx[0],
        )  # fmt: skip
        assert summary["pairs"] == FRAMES
    assert summary["device"] == "onnxruntime cpu"
    read = lambda backend, index: cv2.imread(  # noqa: E731
        str(tmp_path / backend / "left_frames" / f"{index:06d}.pfm"), cv2.IMREAD_UNCHANGED
    )
    for index in range(FRAMES):
        assert np.abs(read("onnxruntime", index) - read("torch", index)).max() <= 0.01
    assert len(decoded(tmp_path / "onnxruntime" / "left_disparity.mp4")) == FRAMES


def test_the_colour_range_is_the_same_for_every_frame() -> None:
    near = np.full((33, 40), 10.0, np.float32)
    far = near.copy()
    far[:, 20:] = 90.0  # a frame with a much larger spread must not recolour the 10 px pixels
    a, b = disparity_frame(near, 96), disparity_frame(far, 96)
    assert a.shape[0] % 2 == 0 and a.shape[1] % 2 == 0  # even sides for H.264
    np.testing.assert_array_equal(a[:33, :20], b[:33, :20])
    assert not np.array_equal(a[:33, 20:40], b[:33, 20:40])


def test_infer_script_takes_videos_and_refuses_mismatched_ones(videos, tmp_path: Path) -> None:
    left, right = videos
    command = [
        sys.executable,
        "scripts/infer.py",
        f"left={left}",
        f"right={right}",
        f"output_dir={tmp_path / 'o'}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "o" / "left_disparity.mp4").is_file()
    short = write_video(tmp_path / "short.mp4", [scene(0)[1]] * 2)
    command = [
        sys.executable,
        "scripts/infer.py",
        f"left={left}",
        f"right={short}",
        f"output_dir={tmp_path / 'p'}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert (
        done.returncode == 1
        and done.stderr.strip() == f"error: {left} has {FRAMES} frames and {short} 2: expected the same"
    )
    assert not (tmp_path / "p").exists()


def not_a_video(folder: Path) -> Path:
    (folder / "text.mp4").write_text("not a video")
    return folder / "text.mp4"


def wider(folder: Path) -> Path:
    return write_video(folder / "wide.mp4", [np.zeros((HEIGHT, WIDTH + 32, 3), np.uint8)] * FRAMES)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("sbs_with_right", "layout=sbs: give left= only"),
        ("pair_without_right", "layout=pair: give left= and right="),
        ("missing", "none.mp4: no such video file"),
        ("not_a_video", "text.mp4: cannot read it as a video"),
        ("wider", "differ in size"),
    ],
)
def test_bad_video_inputs_are_one_line_and_write_nothing(
    videos, case: str, message: str, tmp_path: Path
) -> None:
    left, right = videos
    inputs = {
        "sbs_with_right": lambda: (left, right, "sbs"),
        "pair_without_right": lambda: (left, None, "pair"),
        "missing": lambda: (tmp_path / "none.mp4", right, "pair"),
        "not_a_video": lambda: (not_a_video(tmp_path), right, "pair"),
        "wider": lambda: (left, wider(tmp_path), "pair"),
    }
    left, right, layout = inputs[case]()
    with pytest.raises(InputError, match=re.escape(message)) as raised:
        infer_video(left, right, tmp_path / "out", SHIPPED_CHECKPOINT, layout=layout, progress=False)
    assert "\n" not in str(raised.value) and not (tmp_path / "out").exists()
