"""Middlebury 2014, MiddEval3 style: ``root/<scene>/im0.png, im1.png, disp0GT.pfm, mask0nocc.png, calib.txt``.

``root`` is a folder of scenes, e.g. ``MiddEval3/trainingH``. The full 2014 data set's ``disp0.pfm`` is
used when ``disp0GT.pfm`` is absent; scenes with neither (the test scenes) load without ground truth.
Ground truth is invalid where it is inf; ``valid_noc`` is ``valid & (mask0nocc.png == 255)``
(128 marks occluded pixels, 0 pixels without ground truth).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stereo_attn.data.base import (
    DatasetLayoutError,
    Entry,
    StereoDataset,
    pair_entry,
    read_checked,
    read_pfm_ground_truth,
    require_dir,
    require_files,
)
from stereo_attn.data.io import DataFormatError, read_image
from stereo_attn.data.sample import Sample, make_sample

GT_NAMES = ("disp0GT.pfm", "disp0.pfm")
CALIB_KEYS = ("cam0", "cam1", "doffs", "baseline", "ndisp")


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


def expected_layout(root: str) -> str:
    return f"{root}/<scene>/im0.png with im1.png, calib.txt (and disp0GT.pfm, mask0nocc.png) beside it"


class Middlebury2014(StereoDataset):
    """Middlebury 2014 scenes, sorted by name; ``meta["calib"]`` holds the parsed ``calib.txt``.

    ``scenes`` restricts the reader to the named scene folders (all found scenes by default).
    """

    name = "middlebury2014"

    def __init__(
        self,
        root: str | os.PathLike,
        scenes: Sequence[str] | None = None,
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        expected = expected_layout(os.path.abspath(os.fspath(root)))
        root_abs = require_dir(root, expected)
        entries = self.scan(root_abs, scenes)
        super().__init__(entries, transform, root=root_abs, expected=expected, what="Middlebury 2014 scenes")

    @staticmethod
    def scan(root: str, scenes: Sequence[str] | None = None) -> list[Entry]:
        names = sorted(
            name for name in os.listdir(root) if os.path.isfile(os.path.join(root, name, "im0.png"))
        )
        if scenes is not None:
            unknown = [scene for scene in scenes if scene not in names]
            if unknown:
                raise DatasetLayoutError(
                    f"{root}: no scene folder {', '.join(unknown)}; expected {expected_layout(root)}"
                )
            names = [name for name in names if name in scenes]
        entries = []
        for name in names:
            folder = os.path.join(root, name)
            gt = next(
                (os.path.join(folder, g) for g in GT_NAMES if os.path.isfile(os.path.join(folder, g))), None
            )
            entry = pair_entry(os.path.join(folder, "im0.png"), os.path.join(folder, "im1.png"), gt)
            mask = os.path.join(folder, "mask0nocc.png")
            entry["mask"] = mask if gt is not None and os.path.isfile(mask) else None
            entry["scene"] = name
            require_files((entry["right"], os.path.join(folder, "calib.txt")), expected_layout(root))
            entry["calib"] = parse_calib(os.path.join(folder, "calib.txt"))
            entries.append(entry)
        return entries

    def load(self, entry: Entry) -> Sample:
        left = read_checked(read_image, entry["left"])
        right = read_checked(read_image, entry["right"])
        disparity = valid = valid_noc = None
        if entry["disparity"]:
            disparity, valid, valid_noc = read_pfm_ground_truth(
                entry["disparity"], entry.get("mask"), entry["left"], left
            )
        meta = {**self.base_meta(entry), "name": entry["scene"], "calib": dict(entry["calib"])}
        return make_sample(left, right, disparity, valid, meta, valid_noc=valid_noc)
