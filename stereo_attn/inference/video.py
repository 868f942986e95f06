"""Video through the network, frame by frame: two videos (left and right) or one side-by-side video,
streamed in batches, written as a colour-mapped disparity video (and, on request, one PFM per frame).

Frames are read and written with imageio's ffmpeg plugin (the ``video`` extra: imageio-ffmpeg ships
the binary). The colour range is the network's [0, max_disparity] for every frame, so a colour means
the same disparity throughout the video. Everything is checked first (both videos open, their frame
sizes and counts match), and the outputs appear only when every frame is done.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from stereo_attn import options
from stereo_attn.data.io import write_pfm
from stereo_attn.inference.backends import load_predictor
from stereo_attn.inference.pairs import MIN_IMAGE_SIDE, InputError
from stereo_attn.staging import Staging, reserve_folder, timestamp
from stereo_attn.viz import add_colorbar, colorize_disparity

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
LAYOUTS = ("pair", "sbs")


def is_video(path: str | os.PathLike | None) -> bool:
    return path is not None and Path(path).suffix.lower() in VIDEO_SUFFIXES


def _imageio_ffmpeg() -> Any:
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the plugin imageio needs for video)
    except ImportError:
        raise InputError(
            "video needs imageio-ffmpeg: pip install 'stereo_attn[video]' (or imageio-ffmpeg)"
        ) from None
    return imageio


class VideoFrames:
    """A video file's frames as float RGB in [0, 1], with its size, frame count and rate read first."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise InputError(f"{path}: no such video file")
        self.path = path
        imageio = _imageio_ffmpeg()
        try:
            self.reader = imageio.get_reader(str(path), format="FFMPEG")
            meta = self.reader.get_meta_data()
            self.count = int(self.reader.count_frames())
        except Exception as error:  # ffmpeg's own message, on one line
            message = " ".join(str(error).split())[-200:]
            raise InputError(f"{path}: cannot read it as a video ({message})") from None
        self.width, self.height = (int(v) for v in meta["size"])
        self.fps = float(meta.get("fps") or 25.0)
        if self.count == 0:
            raise InputError(f"{path}: holds no frames")

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.reader:
            yield np.asarray(frame[..., :3], np.float32) / 255.0

    def close(self) -> None:
        self.reader.close()


def frame_pairs(left: VideoFrames, right: VideoFrames | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(left, right) per frame: from two videos, or the halves of a side-by-side one (left half first)."""
    if right is None:
        half = left.width // 2
        for frame in left:
            yield frame[:, :half], frame[:, half : 2 * half]
    else:
        yield from zip(left, right, strict=True)


def disparity_frame(disparity: np.ndarray, max_disparity: float) -> np.ndarray:
    """One output frame: the turbo map over the fixed [0, max_disparity] with its colour bar, padded to
    even sides (H.264 in yuv420p needs them)."""
    rgb = add_colorbar(colorize_disparity(disparity, max_disparity), max_disparity)
    pad = ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0))
    return np.pad(rgb, pad, mode="edge")


def infer_video(
    left: str | os.PathLike,
    right: str | os.PathLike | None,
    output_dir: str | os.PathLike | None,
    checkpoint: str | os.PathLike,
    layout: str = "pair",
    max_disparity: int | None = None,
    batch_size: int = 1,
    device: str = "auto",
    pfm_frames: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    backend: str = "torch",
    onnx: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Predict every frame (``backend``: see backends.load_predictor); writes
    ``<stem of left>_disparity.mp4`` (and ``<stem>_frames/NNNNNN.pfm``) into ``output_dir``
    (None: a new ``outputs/infer/<time>``)."""
    layout = options.choice(layout, "layout", list(LAYOUTS))
    batch_size = options.integer(batch_size, "batch_size", minimum=1)
    options.boolean(pfm_frames, "pfm_frames")
    options.boolean(overwrite, "overwrite")
    if (layout == "sbs") != (right is None):
        wanted = "left= only (one side-by-side video)" if layout == "sbs" else "left= and right= (two videos)"
        raise InputError(f"layout={layout}: give {wanted}")
    videos = [VideoFrames(Path(left))] + ([VideoFrames(Path(right))] if right is not None else [])
    first = videos[0]
    height, width = first.height, first.width // 2 if layout == "sbs" else first.width
    if layout == "pair":
        other = videos[1]
        if (other.width, other.height) != (first.width, first.height):
            sizes = f"({first.width}x{first.height}) and {right} ({other.width}x{other.height})"
            raise InputError(f"{left} {sizes} differ in size")
        if other.count != first.count:
            raise InputError(f"{left} has {first.count} frames and {right} {other.count}: expected the same")
    if min(height, width) < MIN_IMAGE_SIDE:
        raise InputError(
            f"{left}: frames of {width}x{height} are too small, expected at least {MIN_IMAGE_SIDE} px a side"
        )
    predictor = load_predictor(backend, checkpoint, onnx, max_disparity, device)
    predictor.check_memory([(height, width)], batch_size)
    stem = Path(left).stem
    names = [f"{stem}_disparity.mp4", *([f"{stem}_frames"] if pfm_frames else [])]
    owned = output_dir is None
    if owned:
        output_dir = reserve_folder(Path("outputs", "infer"), timestamp(), "output_dir")
    imageio = _imageio_ffmpeg()
    with Staging(output_dir, names, "output_dir", replace=overwrite, owned=owned) as folder:
        if pfm_frames:
            (folder / names[1]).mkdir()
        writer = imageio.get_writer(
            str(folder / names[0]), format="FFMPEG", fps=first.fps, codec="libx264", quality=8,
            macro_block_size=1, ffmpeg_log_level="error",
        )  # fmt: skip
        index = 0
        try:
            bar = tqdm(total=first.count, desc="frames", unit="frame", disable=not progress)
            pairs = frame_pairs(first, videos[1] if layout == "pair" else None)
            for batch in batches_of(pairs, batch_size):
                disparities = predictor.predict([a for a, _ in batch], [b for _, b in batch])[0]
                for disparity in disparities:
                    writer.append_data(disparity_frame(disparity, predictor.max_disparity))
                    if pfm_frames:
                        write_pfm(folder / names[1] / f"{index:06d}.pfm", disparity)
                    index += 1
                bar.update(len(batch))
            bar.close()
        finally:
            writer.close()
            for video in videos:
                video.close()
    return {
        "output_dir": Path(output_dir),
        "pairs": index,
        "files": index + 1 if pfm_frames else 1,
        "max_disparity": predictor.max_disparity,
        "device": predictor.device,
    }


def batches_of(pairs: Iterator[tuple[np.ndarray, np.ndarray]], size: int) -> Iterator[list]:
    batch = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
