"""Choosing texture photos: the texture measure, duplicate pictures, the copied folder, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from stereo_attn.data.synthetic.world.photo_selection import select_photos, textured_fraction
from stereo_attn.data.synthetic.world.photos import PhotoLibrary
from stereo_attn.options import OptionError


def _noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random blobs a few pixels wide: textured at any scale the selection looks at."""
    small = np.random.default_rng(seed).integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def _smooth(height: int, width: int) -> np.ndarray:
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    return np.broadcast_to(ramp, (height, width, 3)).astype(np.uint8)


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.mark.parametrize(("slope", "threshold", "expected"), [(5.0, 4.0, 38 / 40), (3.0, 4.0, 0.0)])
def test_textured_fraction_of_a_ramp(slope: float, threshold: float, expected: float) -> None:
    # A ramp's Sobel gradient is its slope inside and 0 in the first and last column (mirrored border).
    grey = np.tile(np.arange(40, dtype=np.float32) * slope, (30, 1))
    assert textured_fraction(grey, threshold) == pytest.approx(expected)


def test_keeps_textured_photos_and_the_largest_copy_of_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "wallpapers"
    # The smaller copy comes first in path order, so keeping the larger one is a choice, not the order.
    large = _write(source / "leaves" / "wallpaper.png", _noise(320, 480, seed=1))
    _write(source / "leaves" / "screenshot.jpg", cv2.resize(cv2.imread(str(large)), (240, 160)))
    _write(source / "bark.jpg", _noise(200, 300, seed=2))
    _write(source / "gradient.png", _smooth(200, 300))
    (source / "broken.jpg").write_bytes(b"not an image")

    chosen = select_photos([source], tmp_path / "photos")

    assert [c.name for c in chosen] == ["wallpapers/bark.jpg", "wallpapers/leaves/wallpaper.png"]
    copied = sorted(p.relative_to(tmp_path / "photos").as_posix() for p in (tmp_path / "photos").rglob("*.*"))
    assert copied == ["selection.json", "wallpapers/bark.jpg", "wallpapers/leaves/wallpaper.png"]
    assert (tmp_path / "photos" / "wallpapers" / "bark.jpg").read_bytes() == (
        source / "bark.jpg"
    ).read_bytes()
    manifest = json.loads((tmp_path / "photos" / "selection.json").read_text())
    assert manifest["candidates"] == 4  # the broken file is not one
    assert [p["origin"] for p in manifest["photos"]] == [str(source / "bark.jpg"), str(large)]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [str(source / "broken.jpg")]
    # The folder is what the world's textures= option reads.
    assert len(PhotoLibrary(tmp_path / "photos")) == 2


def test_threshold_decides(tmp_path: Path) -> None:
    _write(tmp_path / "src" / "gradient.png", _smooth(100, 100))
    with pytest.raises(OptionError, match="none of the 1 readable photos"):
        select_photos([tmp_path / "src"], tmp_path / "photos")
    assert not (tmp_path / "photos").exists()
    assert len(select_photos([tmp_path / "src"], tmp_path / "photos", min_textured=0.0)) == 1


def test_replaces_an_earlier_selection_only_when_asked(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "one.png", _noise(100, 100, seed=3))
    _write(tmp_path / "b" / "two.png", _noise(100, 100, seed=4))
    select_photos([tmp_path / "a"], tmp_path / "photos")
    with pytest.raises(OptionError, match="already holds photos"):
        select_photos([tmp_path / "b"], tmp_path / "photos")
    select_photos([tmp_path / "b"], tmp_path / "photos", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["b", "selection.json"]


def test_sources_sharing_a_name_are_refused(tmp_path: Path) -> None:
    for parent in ("x", "y"):
        _write(tmp_path / parent / "photos" / "p.png", _noise(100, 100))
    with pytest.raises(OptionError, match="share a name"):
        select_photos([tmp_path / "x" / "photos", tmp_path / "y" / "photos"], tmp_path / "out")
