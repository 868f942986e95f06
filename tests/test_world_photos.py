"""The photo texture library: scanning, errors, decoding into pyramids, the cache, pickling."""

from __future__ import annotations

import itertools
import logging
import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from stereo_attn.data.synthetic.world import photos
from stereo_attn.data.synthetic.world.photos import PhotoLibrary

LOGGER = "stereo_attn.data.synthetic.world.photos"


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _write(path: Path, height: int = 40, width: int = 50, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), _image(height, width, seed))
    return path


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths the library decoded (through read_photo), in order."""
    calls: list[str] = []
    real = photos.read_photo

    def counting(path: str, *args: object) -> np.ndarray:
        calls.append(path)
        return real(path, *args)

    monkeypatch.setattr(photos, "read_photo", counting)
    return calls


def test_scan_recursive_case_insensitive_sorted(tmp_path: Path) -> None:
    _write(tmp_path / "b" / "deep" / "z.png")
    _write(tmp_path / "b" / "A.JPG")
    _write(tmp_path / "a.jpeg")
    _write(tmp_path / "c.Png")
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "b" / "photo.bmp").write_bytes(cv2.imencode(".bmp", _image(8, 8))[1].tobytes())
    library = PhotoLibrary(tmp_path)
    rel = [os.path.relpath(p, tmp_path).replace(os.sep, "/") for p in library.paths]
    assert rel == ["a.jpeg", "b/A.JPG", "b/deep/z.png", "c.Png"]
    assert len(library) == 4
    assert all(os.path.isabs(p) for p in library.paths)
    assert isinstance(library.paths, tuple)


def test_scan_relative_folder_gives_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "photos" / "x.png")
    monkeypatch.chdir(tmp_path)
    library = PhotoLibrary("photos")
    assert library.paths == (str(tmp_path / "photos" / "x.png"),)


@pytest.mark.parametrize("case", ["missing", "file", "empty", "only_txt"])
def test_bad_folder_one_line_error(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "photos"
    expected = {
        "missing": "no such directory",
        "file": "not a directory",
        "empty": "no .jpg, .jpeg or .png files",
        "only_txt": "no .jpg, .jpeg or .png files",
    }[case]
    if case == "file":
        _write(tmp_path / "photos.png")
        folder = tmp_path / "photos.png"
    elif case == "empty":
        folder.mkdir()
    elif case == "only_txt":
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "readme.txt").write_text("hello")
    with pytest.raises(ValueError) as info:
        PhotoLibrary(folder)
    message = str(info.value)
    assert "\n" not in message
    assert f"textures={folder}" in message
    assert expected in message


def test_garbage_file_skipped_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path / "a.png", seed=1)
    garbage = tmp_path / "b.png"
    garbage.write_bytes(b"this is not a png at all" * 10)
    _write(tmp_path / "c.jpg", seed=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        library = PhotoLibrary(tmp_path)
    assert library.paths == (str(tmp_path / "a.png"), str(tmp_path / "c.jpg"))
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert str(garbage) in warnings[0]
    assert "not a readable image" in warnings[0]


def test_only_garbage_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a.png").write_bytes(b"garbage")
    (tmp_path / "b.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(ValueError) as info:
        PhotoLibrary(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert f"textures={tmp_path}" in message
    assert "readable" in message
    assert len(_warnings(caplog)) == 2


def test_pyramid_downsizes_to_max_side_and_levels_are_pyrdown(tmp_path: Path) -> None:
    _write(tmp_path / "big.png", height=200, width=300, seed=3)
    library = PhotoLibrary(tmp_path, max_side=64)
    levels = library.pyramid(0)
    assert levels is not None
    level0 = levels[0]
    assert level0.dtype == np.uint8
    assert level0.shape[2] == 3
    assert max(level0.shape[:2]) == 64
    assert level0.shape[1] == 64
    assert abs(level0.shape[0] - 64 * 200 / 300) <= 1
    # Content is the INTER_AREA downsizing of the RGB photo.
    rgb = cv2.cvtColor(_image(200, 300, seed=3), cv2.COLOR_BGR2RGB)
    expected0 = cv2.resize(rgb, (level0.shape[1], level0.shape[0]), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(level0, expected0)
    # 64x43 -> 32x22 -> stop (next would be 16x11: shorter side below 16).
    assert [lv.shape[:2] for lv in levels] == [(43, 64), (22, 32)]
    for prev, nxt in itertools.pairwise(levels):
        np.testing.assert_array_equal(nxt, cv2.pyrDown(prev))
        assert nxt.dtype == np.uint8


def test_pyramid_level_count_stops_before_16(tmp_path: Path) -> None:
    _write(tmp_path / "p.png", height=130, width=260, seed=4)
    levels = PhotoLibrary(tmp_path).pyramid(0)
    assert levels is not None
    # 130x260 -> 65x130 -> 33x65 -> 17x33 -> (9x17 would be below 16: stop)
    assert [lv.shape[:2] for lv in levels] == [(130, 260), (65, 130), (33, 65), (17, 33)]


def test_pyramid_never_upscales(tmp_path: Path) -> None:
    _write(tmp_path / "small.png", height=20, width=30, seed=5)
    levels = PhotoLibrary(tmp_path, max_side=1024).pyramid(0)
    assert levels is not None
    assert len(levels) == 1
    rgb = cv2.cvtColor(_image(20, 30, seed=5), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(levels[0], rgb)


def test_pyramid_is_rgb(tmp_path: Path) -> None:
    red_bgr = np.zeros((32, 32, 3), np.uint8)
    red_bgr[..., 2] = 255
    assert cv2.imwrite(str(tmp_path / "red.png"), red_bgr)
    levels = PhotoLibrary(tmp_path).pyramid(0)
    assert levels is not None
    for level in levels:
        assert (level[..., 0] == 255).all()
        assert (level[..., 1:] == 0).all()


def test_pyramid_arrays_read_only(tmp_path: Path) -> None:
    _write(tmp_path / "a.png", height=64, width=64)
    levels = PhotoLibrary(tmp_path).pyramid(0)
    assert levels is not None
    with pytest.raises(ValueError):
        levels[0][0, 0, 0] = 1


def test_pyramid_index_errors(tmp_path: Path) -> None:
    _write(tmp_path / "a.png")
    _write(tmp_path / "b.png")
    library = PhotoLibrary(tmp_path)
    for index in (2, -1, 100):
        with pytest.raises(IndexError):
            library.pyramid(index)
    assert library.pyramid(np.int64(1)) is not None


def test_cache_bounded_by_bytes(tmp_path: Path, count_decodes: list[str]) -> None:
    _write(tmp_path / "a.png", height=64, width=64, seed=6)
    _write(tmp_path / "b.png", height=64, width=64, seed=7)
    one = 64 * 64 * 3 + 32 * 32 * 3 + 16 * 16 * 3  # bytes of one pyramid
    library = PhotoLibrary(tmp_path, cache_bytes=one)
    first = library.pyramid(0)
    assert first is not None
    assert sum(lv.nbytes for lv in first) == one
    assert library.pyramid(0) is first  # cached
    assert len(count_decodes) == 1
    library.pyramid(1)
    assert len(count_decodes) == 2
    assert list(library._cache) == [1]
    again = library.pyramid(0)  # evicted: decoded again, same content
    assert count_decodes == [library.paths[0], library.paths[1], library.paths[0]]
    assert again is not None and again is not first
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)


def test_cache_keeps_latest_even_over_budget(tmp_path: Path, count_decodes: list[str]) -> None:
    _write(tmp_path / "a.png", height=64, width=64)
    library = PhotoLibrary(tmp_path, cache_bytes=0)
    library.pyramid(0)
    library.pyramid(0)
    assert len(count_decodes) == 1


def test_cache_big_budget_and_lru_order(tmp_path: Path, count_decodes: list[str]) -> None:
    for i in range(3):
        _write(tmp_path / f"{i}.png", height=64, width=64, seed=i)
    one = 64 * 64 * 3 + 32 * 32 * 3 + 16 * 16 * 3
    big = PhotoLibrary(tmp_path)
    for index in (0, 1, 2, 0, 1, 2):
        big.pyramid(index)
    assert len(count_decodes) == 3
    count_decodes.clear()
    # Room for two: touching 0 makes 1 the least recently used, so decoding 2 evicts 1, not 0.
    two = PhotoLibrary(tmp_path, cache_bytes=2 * one)
    for index in (0, 1, 0, 2, 0):
        two.pyramid(index)
    assert [os.path.basename(p) for p in count_decodes] == ["0.png", "1.png", "2.png"]
    two.pyramid(1)
    assert [os.path.basename(p) for p in count_decodes] == ["0.png", "1.png", "2.png", "1.png"]


def test_truncated_jpeg_returns_none_once_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, count_decodes: list[str]
) -> None:
    _write(tmp_path / "a.png", seed=8)
    encoded = cv2.imencode(".jpg", _image(60, 80, seed=9))[1].tobytes()
    truncated = tmp_path / "b.jpg"
    truncated.write_bytes(encoded[:20])
    # The fixture must pass the signature check yet fail to decode.
    assert cv2.haveImageReader(str(truncated))
    assert cv2.imread(str(truncated), cv2.IMREAD_COLOR) is None
    count_decodes.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        library = PhotoLibrary(tmp_path)
        assert library.paths[1] == str(truncated)
        assert _warnings(caplog) == []
        assert library.pyramid(1) is None
        assert library.pyramid(1) is None
        assert library.pyramid(0) is not None
    assert count_decodes == [str(truncated), str(tmp_path / "a.png")]
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert str(truncated) in warnings[0]


def test_pickle_round_trip(tmp_path: Path, count_decodes: list[str]) -> None:
    _write(tmp_path / "a.png", height=64, width=64, seed=10)
    (tmp_path / "b.jpg").write_bytes(cv2.imencode(".jpg", _image(60, 80))[1].tobytes()[:20])
    library = PhotoLibrary(tmp_path, max_side=32, cache_bytes=12345)
    original = library.pyramid(0)
    assert library.pyramid(1) is None
    assert len(count_decodes) == 2
    state = library.__getstate__()
    assert "_cache" not in state
    assert state["_bad"] == {1}
    data = pickle.dumps(library)
    # The cache is not shipped: the pickle is smaller than the cached level 0 (32x32x3 bytes).
    assert original is not None
    assert len(data) < original[0].nbytes
    clone = pickle.loads(data)
    assert clone.paths == library.paths
    assert (clone.max_side, clone.cache_bytes) == (32, 12345)
    assert len(clone._cache) == 0
    assert clone._cached_bytes == 0
    assert clone.pyramid(1) is None  # known bad: not decoded again
    assert len(count_decodes) == 2
    levels = clone.pyramid(0)
    assert len(count_decodes) == 3
    assert levels is not None
    assert len(levels) == len(original)
    for x, y in zip(levels, original, strict=True):
        np.testing.assert_array_equal(x, y)
    assert max(levels[0].shape[:2]) == 32


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_side": 15}, "max_side"),
        ({"max_side": 0}, "max_side"),
        ({"max_side": 64.0}, "max_side"),
        ({"max_side": True}, "max_side"),
        ({"cache_bytes": -1}, "cache_bytes"),
        ({"cache_bytes": 1.5}, "cache_bytes"),
        ({"cache_bytes": None}, "cache_bytes"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, object], name: str) -> None:
    _write(tmp_path / "a.png")
    with pytest.raises(ValueError) as info:
        PhotoLibrary(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{name}=")


def test_valid_edge_arguments(tmp_path: Path) -> None:
    _write(tmp_path / "a.png", height=40, width=50)
    library = PhotoLibrary(tmp_path, max_side=16, cache_bytes=0)
    levels = library.pyramid(0)
    assert levels is not None
    assert [lv.shape[:2] for lv in levels] == [(13, 16)]
