"""Camera calibration for turning disparity into depth: focal length, baseline, principal point.

Depth is in metres: ``depth = baseline * focal_length / (disparity + doffs)``, with ``focal_length`` and
``doffs`` in pixels and ``baseline`` in metres. Sources:

- given directly (``focal_length`` in pixels, ``baseline`` in metres; principal point = image centre);
- a Middlebury/ETH3D ``calib.txt`` (``key=value`` lines; its baseline is in mm and converted here);
- a KITTI ``calib_cam_to_cam.txt`` (``key: values`` lines): focal length = P_rect_02[0, 0],
  baseline = |P_rect_03[0, 3] - P_rect_02[0, 3]| / focal length (metres), principal point from P_rect_02.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stereo_attn.data.io import DataFormatError

KITTI_KEYS = ("P_rect_02", "P_rect_03")
CALIB_KEYS = ("cam0", "cam1", "doffs", "baseline", "ndisp")


@dataclass(frozen=True)
class Calibration:
    focal_length: float  # pixels
    baseline: float  # metres
    doffs: float = 0.0  # pixels added to the disparity (Middlebury: x-difference of the principal points)
    cx: float | None = None  # principal point of the left view, pixels; None = image centre
    cy: float | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.focal_length) and self.focal_length > 0):
            raise ValueError(f"focal_length must be a positive number of pixels, got {self.focal_length}")
        if not (np.isfinite(self.baseline) and self.baseline > 0):
            raise ValueError(f"baseline must be a positive number of metres, got {self.baseline}")
        for name in ("doffs", "cx", "cy"):
            value = getattr(self, name)
            if value is not None and not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number of pixels, got {value}")

    def depth(self, disparity: np.ndarray) -> np.ndarray:
        """(H, W) disparity in pixels -> float32 depth in metres; inf where disparity <= 0 (no depth)."""
        disparity = np.asarray(disparity, np.float64)
        shifted = disparity + self.doffs
        valid = np.isfinite(disparity) & (disparity > 0) & (shifted > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.where(valid, self.baseline * self.focal_length / np.where(valid, shifted, 1.0), np.inf)
        return depth.astype(np.float32)

    def principal_point(self, height: int, width: int) -> tuple[float, float]:
        cx = (width - 1) / 2 if self.cx is None else self.cx
        cy = (height - 1) / 2 if self.cy is None else self.cy
        return cx, cy


def _parse_matrix(text: str, path: str, number: int, key: str) -> np.ndarray:
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise DataFormatError(f"{path}:{number}: {key} should be a 3x3 matrix like [f 0 cx; 0 f cy; 0 0 1]")
    try:
        rows = [[float(value) for value in row.split()] for row in body[1:-1].split(";")]
    except ValueError:
        raise DataFormatError(f"{path}:{number}: {key} has a value that is not a number: {body}") from None
    if len(rows) != 3 or any(len(row) != 3 for row in rows):
        raise DataFormatError(f"{path}:{number}: {key} should be a 3x3 matrix like [f 0 cx; 0 f cy; 0 0 1]")
    return np.array(rows, np.float64)


def parse_calib(path: str | os.PathLike) -> dict[str, float | int]:
    """Read a Middlebury/ETH3D ``calib.txt`` into focal_length, baseline, doffs, ndisp, cx0, cx1, cy.

    ``baseline`` is in the file's units (mm for Middlebury); depth = baseline * focal_length / (d + doffs).
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as stream:
            lines = stream.read().splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such calibration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read the calibration ({exc})") from exc

    values: dict[str, Any] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        key, sep, text = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DataFormatError(f"{path}:{number}: expected 'key=value', got {line.strip()!r}")
        if key in ("cam0", "cam1"):
            values[key] = _parse_matrix(text, path, number, key)
        else:
            try:
                values[key] = float(text)
            except ValueError:
                if key in CALIB_KEYS:
                    raise DataFormatError(
                        f"{path}:{number}: {key} is not a number: {text.strip()!r}"
                    ) from None
    missing = [key for key in CALIB_KEYS if key not in values]
    if missing:
        raise DataFormatError(f"{path}: calibration lacks {', '.join(missing)}")
    cam0, cam1 = values["cam0"], values["cam1"]
    if not float(values["ndisp"]).is_integer() or values["ndisp"] <= 0:
        raise DataFormatError(f"{path}: ndisp should be a positive integer, got {values['ndisp']}")
    return {
        "focal_length": float(cam0[0, 0]),
        "baseline": float(values["baseline"]),
        "doffs": float(values["doffs"]),
        "ndisp": int(values["ndisp"]),
        "cx0": float(cam0[0, 2]),
        "cx1": float(cam1[0, 2]),
        "cy": float(cam0[1, 2]),
    }


def read_calibration(path: str | Path) -> Calibration:
    """A Middlebury ``calib.txt`` or a KITTI ``calib_cam_to_cam.txt``, told apart by ``=`` vs ``:`` lines."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such calibration file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{path}: cannot read the calibration ({error})") from None
    try:
        return _parse_calibration(path, text)
    except ValueError as error:  # a value out of range: name the file
        if str(error).startswith(str(path)):
            raise
        raise DataFormatError(f"{path}: {error}") from None


def _parse_calibration(path: Path, text: str) -> Calibration:
    if any("=" in line for line in text.splitlines()):
        calib = parse_calib(path)
        return Calibration(
            focal_length=float(calib["focal_length"]),
            baseline=float(calib["baseline"]) / 1000.0,  # Middlebury stores millimetres
            doffs=float(calib["doffs"]),
            cx=float(calib["cx0"]),
            cy=float(calib["cy"]),
        )
    return _kitti_calibration(path, text)


def _kitti_calibration(path: Path, text: str) -> Calibration:
    matrices: dict[str, np.ndarray] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        key, _, values = line.partition(":")
        key = key.strip()
        if key not in KITTI_KEYS:
            continue  # calib_time, S_/K_/D_/R_/T_ entries: not needed here
        try:
            numbers = [float(value) for value in values.split()]
        except ValueError:
            raise DataFormatError(f"{path}:{number}: {key} has a value that is not a number") from None
        if len(numbers) != 12:
            raise DataFormatError(f"{path}:{number}: {key} has {len(numbers)} values, expected 12 (3x4)")
        matrices[key] = np.array(numbers).reshape(3, 4)
    missing = [key for key in KITTI_KEYS if key not in matrices]
    if missing:
        raise DataFormatError(
            f"{path}: calibration lacks {', '.join(missing)} "
            "(expected a KITTI calib_cam_to_cam.txt or a Middlebury calib.txt)"
        )
    left, right = matrices["P_rect_02"], matrices["P_rect_03"]
    focal_length = float(left[0, 0])
    if not focal_length > 0:
        raise DataFormatError(f"{path}: P_rect_02 has focal length {focal_length}, expected > 0")
    baseline = abs(float(right[0, 3]) - float(left[0, 3])) / focal_length
    if not baseline > 0:
        raise DataFormatError(f"{path}: P_rect_02 and P_rect_03 give a zero baseline")
    return Calibration(focal_length, baseline, cx=float(left[0, 2]), cy=float(left[1, 2]))


def calibration_from_options(
    calib: str | Path | None, focal_length: float | None, baseline: float | None
) -> Calibration | None:
    """The calibration asked for on the command line, or None for disparity only."""
    direct = focal_length is not None or baseline is not None
    if calib is not None and direct:
        raise ValueError("give either calib=FILE or focal_length= and baseline=, not both")
    if calib is not None:
        return read_calibration(calib)
    if not direct:
        return None
    if focal_length is None or baseline is None:
        missing = "baseline" if baseline is None else "focal_length"
        raise ValueError(f"{missing} is missing: depth needs both focal_length= (px) and baseline= (m)")
    return Calibration(float(focal_length), float(baseline))
