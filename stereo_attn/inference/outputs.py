"""The files infer.py writes for one pair, each atomically (temporary file, then rename):

- ``<stem>.pfm``: float32 disparity of the left view in pixels, full input size;
- ``<stem>_disp16.png``: KITTI 16-bit PNG, value = round(disparity * 256), 0 = invalid;
- ``<stem>_color.png``: turbo colour map over one fixed range [0, max_disparity] with a colour bar (px);
- ``<stem>_confidence.png``: 8-bit grey, 255 = confidence 1;
- with a calibration, ``<stem>_depth.pfm`` (float32 metres, inf where disparity <= 0) and ``<stem>.ply``
  (binary little-endian point cloud: float x y z in metres in the left camera's frame, x right, y down,
  z forward; uchar red green blue from the left image; only pixels with disparity > 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stereo_attn.data.io import atomic_write, write_image, write_kitti_disparity, write_pfm
from stereo_attn.inference.calibration import Calibration
from stereo_attn.viz import add_colorbar, colorize_disparity, to_uint8

SUFFIXES = (".pfm", "_disp16.png", "_color.png", "_confidence.png")
DEPTH_SUFFIXES = ("_depth.pfm", ".ply")


def output_names(stem: str, with_depth: bool) -> list[str]:
    return [stem + suffix for suffix in SUFFIXES + (DEPTH_SUFFIXES if with_depth else ())]


def point_cloud(
    left: np.ndarray, depth: np.ndarray, calibration: Calibration, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) float32 points in metres and (N, 3) uint8 colours for pixels with finite depth, every
    ``stride``-th row and column."""
    height, width = depth.shape
    cx, cy = calibration.principal_point(height, width)
    v, u = np.mgrid[0:height:stride, 0:width:stride]
    z = depth[::stride, ::stride].astype(np.float64)
    keep = np.isfinite(z) & (z > 0)
    z = z[keep]
    x = (u[keep] - cx) * z / calibration.focal_length
    y = (v[keep] - cy) * z / calibration.focal_length
    colours = to_uint8(left[::stride, ::stride][keep])
    return np.stack([x, y, z], axis=1).astype(np.float32), colours


def write_ply(path: str | Path, points: np.ndarray, colours: np.ndarray) -> None:
    """Binary little-endian PLY with float x, y, z and uchar red, green, blue per vertex, atomically."""
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        "comment stereo_attn: metres, left camera frame (x right, y down, z forward)\n"
        f"element vertex {len(points)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    vertex = np.dtype(
        [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    )
    data = np.empty(len(points), vertex)
    for axis, name in enumerate(("x", "y", "z")):
        data[name] = points[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        data[name] = colours[:, channel]
    atomic_write(path, header.encode("ascii"), data.tobytes())


def write_outputs(
    output_dir: str | Path,
    stem: str,
    left: np.ndarray,
    disparity: np.ndarray,
    confidence: np.ndarray,
    max_disparity: float,
    calibration: Calibration | None = None,
    ply_stride: int = 1,
) -> list[Path]:
    """Write one pair's files (see the module docstring); returns their paths."""
    folder = Path(output_dir)
    paths = [folder / name for name in output_names(stem, calibration is not None)]
    write_pfm(paths[0], disparity.astype(np.float32))
    write_kitti_disparity(paths[1], disparity, valid=disparity > 0)
    write_image(paths[2], add_colorbar(colorize_disparity(disparity, max_disparity), max_disparity))
    write_image(paths[3], np.clip(confidence, 0.0, 1.0))
    if calibration is not None:
        depth = calibration.depth(disparity)
        write_pfm(paths[4], depth)
        write_ply(paths[5], *point_cloud(left, depth, calibration, ply_stride))
    return paths
