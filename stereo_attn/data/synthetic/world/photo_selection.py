"""Choosing texture photos from folders of images: textured pictures only, one file per picture.

Wallpaper collections, the easiest source of freely licensed photos, mix photographs with smooth
renders and colour gradients, and ship one picture at several resolutions. A smooth surface gives a
stereo matcher nothing to match, and a picture stored three times is drawn three times as often. So
a photo is kept when most of it is textured, and of files that show the same picture only the
largest is kept.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stereo_attn.data.io import read_photo
from stereo_attn.data.synthetic.world.photos import find_photos
from stereo_attn.data.writers import write_json_atomic
from stereo_attn.options import OptionError
from stereo_attn.staging import Staging

# Texture is judged at about the resolution the renderer samples photos at (its mip levels).
ANALYSIS_SIDE = 480
# Two files are one picture when their 16x16 grey thumbnails differ by less than this, on average
# (0-255). Different pictures differ by tens; resized copies of one by 1-3.
DUPLICATE_DIFFERENCE = 6.0
MANIFEST = "selection.json"

_log = logging.getLogger(__name__)


def textured_fraction(grey: np.ndarray, gradient: float) -> float:
    """Share of the pixels of a grey image (0-255) whose gradient exceeds ``gradient`` grey levels
    per pixel (Sobel, normalized so a ramp of slope s reads s)."""
    grey = np.asarray(grey, dtype=np.float32)
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) / 8
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) / 8
    return float((np.hypot(dx, dy) > gradient).mean())


def thumbnail(grey: np.ndarray) -> np.ndarray:
    """16x16 area-averaged thumbnail, the fingerprint duplicates are found by."""
    return cv2.resize(np.asarray(grey, dtype=np.float32), (16, 16), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Candidate:
    path: Path
    source: Path
    textured: float
    fingerprint: np.ndarray

    @property
    def bytes(self) -> int:
        return self.path.stat().st_size

    @property
    def name(self) -> str:
        """Where the copy goes: the source folder's name, then the path inside it."""
        return f"{self.source.name}/{self.path.relative_to(self.source).as_posix()}"


def inspect_photo(path: Path, source: Path, gradient: float) -> Candidate | None:
    """The photo's texture and fingerprint, or None (with a warning) if it cannot be decoded."""
    try:
        rgb = read_photo(path, ANALYSIS_SIDE)
    except (OSError, ValueError) as error:
        _log.warning("%s: skipped, not a readable photo (%s)", path, error)
        return None
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return Candidate(path, source, textured_fraction(grey, gradient), thumbnail(grey))


def is_duplicate(a: Candidate, b: Candidate) -> bool:
    return float(np.abs(a.fingerprint - b.fingerprint).mean()) < DUPLICATE_DIFFERENCE


def choose_photos(candidates: list[Candidate], min_textured: float) -> list[Candidate]:
    """Textured candidates, the largest file of each group of duplicates, in the input order."""
    chosen: list[Candidate] = []
    for candidate in candidates:
        if candidate.textured < min_textured:
            continue
        twin = next((index for index, kept in enumerate(chosen) if is_duplicate(kept, candidate)), None)
        if twin is None:
            chosen.append(candidate)
        elif candidate.bytes > chosen[twin].bytes:
            chosen[twin] = candidate
    return chosen


def check_sources(sources: list[str | os.PathLike]) -> list[Path]:
    if not sources:
        raise OptionError("sources=[]: expected at least one folder of photos")
    folders = [Path(source) for source in sources]
    for folder in folders:
        if not folder.is_dir():
            raise OptionError(f"sources: {folder} is not a folder, expected a folder of photos")
    names = [folder.resolve().name for folder in folders]
    if len(set(names)) != len(names):
        shown = [str(folder) for folder in folders]
        raise OptionError(f"sources={shown}: two folders share a name, their copies would collide")
    return [folder.resolve() for folder in folders]


def select_photos(
    sources: list[str | os.PathLike],
    root: str | os.PathLike,
    min_textured: float = 0.2,
    gradient: float = 4.0,
    overwrite: bool = False,
) -> list[Candidate]:
    """Copy the chosen photos of ``sources`` (searched recursively) into the folder ``root``, one
    subfolder per source, with ``selection.json`` listing each kept file, its origin and texture.

    The folder appears whole or not at all, and ``overwrite`` replaces an earlier one as a whole.
    """
    folders = check_sources(sources)
    candidates = []
    for folder in folders:
        for path in find_photos(str(folder)):
            candidate = inspect_photo(Path(path), folder, gradient)
            if candidate is not None:
                candidates.append(candidate)
    chosen = choose_photos(candidates, min_textured)
    if not chosen:
        raise OptionError(
            f"sources: none of the {len(candidates)} readable photos has at least {min_textured:.0%} of its "
            f"pixels above a gradient of {gradient}; lower min_textured or add photos"
        )
    root = Path(root)
    with Staging(root.parent, [root.name], "root", replace=overwrite) as staging:
        for candidate in chosen:
            target = staging / root.name / candidate.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(candidate.path, target)
        manifest = {
            "min_textured": min_textured,
            "gradient": gradient,
            "candidates": len(candidates),
            "photos": [
                {"file": c.name, "origin": str(c.path), "bytes": c.bytes, "textured": round(c.textured, 4)}
                for c in chosen
            ],
        }
        write_json_atomic(staging / root.name / MANIFEST, manifest)
    return chosen
