"""File formats: PFM (against OpenCV and hand-built bytes), KITTI PNG16, images, masks, errors, fuzz."""

from __future__ import annotations

import contextlib
import struct
import sys
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stereo_attn.data.io import (
    DataFormatError,
    read_disparity,
    read_image,
    read_kitti_disparity,
    read_mask,
    read_pfm,
    read_photo,
    write_image,
    write_kitti_disparity,
    write_pfm,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def special_values(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Float32 values with negatives, large and tiny magnitudes, +-inf and nan, all at known places."""
    values = np.random.default_rng(seed).normal(0, 100, shape).astype(np.float32)
    flat = values.reshape(-1)
    specials = [np.inf, -np.inf, np.nan, -0.5, 3.0e38, 1.0e-40]
    flat[: len(specials)] = specials[: flat.size]
    return values


def pfm_bytes(
    magic: bytes, width: int, height: int, scale: bytes, rows_bottom_up: list[list[float]]
) -> bytes:
    """A PFM file built by hand: header lines, then the given rows (bottom row first) as float32."""
    order = "<" if scale.startswith(b"-") else ">"
    raster = b"".join(struct.pack(f"{order}{len(row)}f", *row) for row in rows_bottom_up)
    return magic + b"\n" + f"{width} {height}".encode() + b"\n" + scale + b"\n" + raster


def assert_format_error(reader, path: Path) -> DataFormatError:
    with pytest.raises(DataFormatError) as caught:
        reader(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert "expected" in message and "\n" not in message, message
    return caught.value


# --------------------------------------------------------------------------------------------------------
# PFM
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (7, 5, 3), (1, 1), (1, 9, 3)])
def test_pfm_round_trip(tmp_path: Path, shape: tuple[int, ...], little_endian: bool) -> None:
    array = special_values(shape)
    path = tmp_path / "x.pfm"
    write_pfm(path, array, little_endian=little_endian)
    header = path.read_bytes().split(b"\n", 3)
    assert header[0] == (b"PF" if len(shape) == 3 else b"Pf")
    assert header[1] == f"{shape[1]} {shape[0]}".encode()
    assert float(header[2]) == (-1.0 if little_endian else 1.0)
    back = read_pfm(path)
    assert back.dtype == np.float32 and back.shape == shape and back.flags.c_contiguous
    assert np.array_equal(back, array, equal_nan=True)


def test_pfm_write_converts_float64_and_rejects_bad_shapes(tmp_path: Path) -> None:
    array = np.linspace(-2, 2, 12).reshape(3, 4)
    write_pfm(tmp_path / "a.pfm", array)
    np.testing.assert_array_equal(read_pfm(tmp_path / "a.pfm"), array.astype(np.float32))
    for bad in (np.zeros((2, 3, 2)), np.zeros(4), np.zeros((0, 3)), np.zeros((2, 2), bool)):
        with pytest.raises(ValueError):
            write_pfm(tmp_path / "b.pfm", bad)
    assert not (tmp_path / "b.pfm").exists()


@pytest.mark.parametrize("scale", [b"-1.0", b"1.0", b"-1", b"+3.5", b"-2e0"])
def test_pfm_hand_built_row_and_byte_order(tmp_path: Path, scale: bytes) -> None:
    # Rows on disk bottom-up: the reader must return [[1, 2, 3], [4, 5, 6]] (top row first), decoding
    # with the byte order of the scale's sign and ignoring its magnitude.
    path = tmp_path / "grey.pfm"
    path.write_bytes(pfm_bytes(b"Pf", 3, 2, scale, [[4, 5, 6], [1, 2, 3]]))
    np.testing.assert_array_equal(read_pfm(path), [[1, 2, 3], [4, 5, 6]])

    path = tmp_path / "colour.pfm"
    path.write_bytes(pfm_bytes(b"PF", 2, 2, scale, [[7, 8, 9, 10, 11, 12], [1, 2, 3, 4, 5, 6]]))
    expected = [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]  # pixels are stored R, G, B
    np.testing.assert_array_equal(read_pfm(path), expected)


def test_pfm_byte_order_is_not_guessed(tmp_path: Path) -> None:
    # Little-endian floats under a positive (big-endian) scale must decode as byte-swapped values.
    raster = np.array([1.0, 2.0], "<f4").tobytes()
    (tmp_path / "x.pfm").write_bytes(b"Pf\n2 1\n1.0\n" + raster)
    np.testing.assert_array_equal(read_pfm(tmp_path / "x.pfm")[0], np.frombuffer(raster, ">f4"))


@pytest.mark.parametrize(
    "header",
    [b"Pf\r\n3 2\r\n-1.0\r\n", b"Pf 3 2 -1.0\n", b"Pf\n  3\t2 \n-1.000000 \n", b"Pf\n3 2\n-1.0 "],
)
def test_pfm_tolerates_whitespace_variants(tmp_path: Path, header: bytes) -> None:
    raster = np.array([[4, 5, 6], [1, 2, 3]], "<f4").tobytes()
    (tmp_path / "x.pfm").write_bytes(header + raster)
    np.testing.assert_array_equal(read_pfm(tmp_path / "x.pfm"), [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("shape", [(4, 9), (9, 4, 3)])
def test_pfm_written_by_us_reads_the_same_in_opencv(tmp_path: Path, shape, little_endian: bool) -> None:
    array = special_values(shape, seed=1)
    path = tmp_path / "x.pfm"
    write_pfm(path, array, little_endian=little_endian)
    theirs = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert theirs is not None and theirs.dtype == np.float32
    if len(shape) == 3:
        theirs = theirs[..., ::-1]  # OpenCV hands colour images out as BGR
    assert np.array_equal(theirs, array, equal_nan=True)


@pytest.mark.parametrize("shape", [(4, 9), (9, 4, 3)])
def test_pfm_written_by_opencv_reads_the_same_here(tmp_path: Path, shape) -> None:
    array = special_values(shape, seed=2)
    path = tmp_path / "x.pfm"
    assert cv2.imwrite(str(path), array[..., ::-1] if len(shape) == 3 else array)
    assert np.array_equal(read_pfm(path), array, equal_nan=True)


def test_opencv_stores_pfm_rows_bottom_up(tmp_path: Path) -> None:
    # Pins the orientation against OpenCV's own file, independently of our reader: the raster's last
    # row is the array's top row, with the channels in RGB order.
    array = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    path = tmp_path / "x.pfm"
    assert cv2.imwrite(str(path), array[..., ::-1])
    data = path.read_bytes()
    assert data.startswith(b"PF\n3 2\n-")  # little-endian
    raster = np.frombuffer(data[-array.nbytes :], "<f4").reshape(2, 3, 3)
    np.testing.assert_array_equal(raster[1], array[0])
    np.testing.assert_array_equal(raster[0], array[1])


# --------------------------------------------------------------------------------------------------------
# KITTI disparity PNG
# --------------------------------------------------------------------------------------------------------


def test_kitti_encoding_on_disk(tmp_path: Path) -> None:
    disparity = np.array([[12.5, 0.001, -5.0, 300.0], [np.nan, np.inf, 7.0, 255.99]], np.float32)
    valid = np.array([[True, True, True, True], [True, True, False, True]])
    path = tmp_path / "d.png"
    write_kitti_disparity(path, disparity, valid)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16 and stored.ndim == 2
    # 12.5 px -> 3200; tiny and negative clip to 1 (still valid); too large clips to 65535;
    # nan, inf and invalid pixels are 0.
    np.testing.assert_array_equal(stored, [[3200, 1, 1, 65535], [0, 0, 0, 65533]])


def test_kitti_read_known_values(tmp_path: Path) -> None:
    path = tmp_path / "d.png"
    assert cv2.imwrite(str(path), np.array([[0, 1, 3200, 65535]], np.uint16))
    disparity, valid = read_kitti_disparity(path)
    assert disparity.dtype == np.float32 and valid.dtype == bool
    np.testing.assert_array_equal(disparity, [[0, 1 / 256, 12.5, 65535 / 256]])
    np.testing.assert_array_equal(valid, [[False, True, True, True]])


def test_kitti_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    disparity = rng.uniform(0.5, 200, (6, 11)).astype(np.float32)
    valid = rng.random((6, 11)) > 0.3
    path = tmp_path / "d.png"
    write_kitti_disparity(path, disparity, valid)
    back, back_valid = read_disparity(path)
    np.testing.assert_array_equal(back_valid, valid)
    np.testing.assert_array_equal(back[valid], np.rint(disparity[valid] * 256) / 256)
    assert np.all(back[~valid] == 0)
    assert np.abs(back - disparity)[valid].max() <= 1 / 512

    write_kitti_disparity(path, disparity)  # valid=None: every finite pixel
    assert read_kitti_disparity(path)[1].all()


def test_kitti_write_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_kitti_disparity(tmp_path / "d.png", np.zeros((2, 3, 1)))
    with pytest.raises(ValueError):
        write_kitti_disparity(tmp_path / "d.png", np.zeros((2, 3)), np.ones((3, 2), bool))
    with pytest.raises(ValueError):
        write_kitti_disparity(tmp_path / "d.jpg", np.zeros((2, 3)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("image", [np.zeros((2, 3), np.uint8), np.zeros((2, 3, 3), np.uint16)])
def test_kitti_rejects_wrong_depth_or_channels(tmp_path: Path, image: np.ndarray) -> None:
    path = tmp_path / "d.png"
    assert cv2.imwrite(str(path), image)
    assert_format_error(read_kitti_disparity, path)


# --------------------------------------------------------------------------------------------------------
# Images and masks
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("layout", ["grey", "rgb", "rgba"])
def test_read_image_converts_to_float_rgb(tmp_path: Path, dtype, layout: str) -> None:
    full = np.iinfo(dtype).max
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, full, (5, 6, 3), endpoint=True).astype(dtype)
    rgb[0, 0] = [full, 0, full // 3]  # the extremes map exactly to 1 and 0
    rgb[0, 1, 0] = 0
    if layout == "grey":
        rgb[..., 1] = rgb[..., 2] = rgb[..., 0]
        stored = rgb[..., 0]
    elif layout == "rgb":
        stored = rgb[..., ::-1]  # OpenCV writes BGR
    else:
        alpha = rng.integers(0, full, (5, 6, 1), endpoint=True).astype(dtype)
        stored = np.concatenate([rgb[..., ::-1], alpha], axis=2)
    path = tmp_path / "im.png"
    assert cv2.imwrite(str(path), np.ascontiguousarray(stored))
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == (5, 6, 3)
    np.testing.assert_allclose(image, rgb / float(full), rtol=0, atol=1e-7)
    assert image[0, 0, 0] == 1.0 and image[0, 1, 0] == 0.0


def test_read_image_grey_with_alpha(tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    path = tmp_path / "la.png"
    image_module.fromarray(np.array([[[10, 200], [30, 40]]], np.uint8), "LA").save(path)
    np.testing.assert_allclose(read_image(path), [[[10 / 255] * 3, [30 / 255] * 3]], rtol=0, atol=1e-7)


@pytest.mark.parametrize("channels", [2, 5])
def test_read_image_channel_counts_opencv_png_never_produces(
    tmp_path: Path, monkeypatch, channels: int
) -> None:
    # OpenCV expands grey+alpha PNGs to BGRA, so other decoders' layouts are simulated here.
    decoded = np.stack([np.full((2, 3), 51 * (c + 1), np.uint8) for c in range(channels)], axis=2)
    monkeypatch.setattr(cv2, "imdecode", lambda buf, flags: decoded)
    path = tmp_path / "im.png"
    path.write_bytes(cv2.imencode(".png", decoded[..., 0])[1].tobytes())  # a real 3x2 PNG header
    if channels == 2:  # grey + alpha
        np.testing.assert_allclose(read_image(path), np.full((2, 3, 3), 0.2), rtol=0, atol=1e-7)
    else:
        assert "5 channels" in str(assert_format_error(read_image, path))


def test_read_image_rejects_float_pixels(tmp_path: Path) -> None:
    path = tmp_path / "float.pfm"  # OpenCV decodes by content, so this reaches the bit-depth check
    write_pfm(path, np.zeros((2, 2, 3), np.float32))
    assert "float32" in str(assert_format_error(read_image, path))


def test_write_image_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rgb = rng.random((7, 4, 3)).astype(np.float32)
    rgb[0, 0] = [-0.5, 1.5, np.nan]  # clipped, and nan written as 0
    path = tmp_path / "im.png"
    write_image(path, rgb)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    expected = np.clip(np.rint(np.nan_to_num(rgb) * 255), 0, 255).astype(np.uint8)
    assert stored.dtype == np.uint8
    np.testing.assert_array_equal(stored[..., ::-1], expected)
    np.testing.assert_array_equal(expected[0, 0], [0, 255, 0])
    np.testing.assert_allclose(read_image(path), expected / 255, rtol=0, atol=1e-7)

    write_image(path, expected)  # uint8 as is
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1], expected)

    grey = rng.integers(0, 256, (3, 5)).astype(np.uint8)
    write_image(path, grey)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape == (3, 5)
    np.testing.assert_allclose(read_image(path), np.repeat(grey[..., None], 3, 2) / 255, atol=1e-7)


@pytest.mark.parametrize(
    ("name", "image"),
    [("a.png", np.zeros((2, 3, 4))), ("a.png", np.zeros((2, 3), np.uint16)), ("a.jpg", np.zeros((2, 3)))],
)
def test_write_image_rejects_bad_arguments(tmp_path: Path, name: str, image: np.ndarray) -> None:
    with pytest.raises(ValueError):
        write_image(tmp_path / name, image)
    assert list(tmp_path.iterdir()) == []


def test_read_mask_keeps_raw_values(tmp_path: Path) -> None:
    mask = np.array([[0, 128, 255], [255, 1, 0]], np.uint8)
    path = tmp_path / "mask0nocc.png"
    assert cv2.imwrite(str(path), mask)
    back = read_mask(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, mask)


@pytest.mark.parametrize("image", [np.zeros((2, 3, 3), np.uint8), np.zeros((2, 3), np.uint16)])
def test_read_mask_rejects_colour_and_16_bit(tmp_path: Path, image: np.ndarray) -> None:
    path = tmp_path / "mask.png"
    assert cv2.imwrite(str(path), image)
    assert_format_error(read_mask, path)


def test_read_disparity_pfm(tmp_path: Path) -> None:
    disparity = np.array([[1.5, np.inf], [np.nan, 40.25]], np.float32)
    write_pfm(tmp_path / "disp0GT.pfm", disparity)
    back, valid = read_disparity(tmp_path / "disp0GT.pfm")
    assert back.shape == (2, 2) and valid.dtype == bool
    assert np.array_equal(back, disparity, equal_nan=True)
    np.testing.assert_array_equal(valid, [[True, False], [False, True]])

    colour = np.stack([disparity, disparity + 1, disparity + 2], axis=2)
    write_pfm(tmp_path / "colour.PFM", colour)
    back, _ = read_disparity(tmp_path / "colour.PFM")
    assert back.shape == (2, 2) and back.flags.c_contiguous
    assert np.array_equal(back, disparity, equal_nan=True)

    (tmp_path / "d.npy").write_bytes(b"x")
    assert_format_error(read_disparity, tmp_path / "d.npy")


# --------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------

READERS = [read_pfm, read_kitti_disparity, read_image, read_mask, read_disparity]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", ["missing.pfm", "missing.png", "missing.txt"])
def test_missing_file(tmp_path: Path, reader, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(FileNotFoundError, match=name):
        reader(path)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"P6\n3 2\n255\n" + bytes(18), id="ppm-magic"),
        pytest.param(b"pf\n3 2\n-1\n" + bytes(24), id="lower-case-magic"),
        pytest.param(b"PFM\n3 2\n-1\n" + bytes(24), id="magic-not-followed-by-whitespace"),
        pytest.param(b"Pf\n0 2\n-1\n", id="zero-width"),
        pytest.param(b"Pf\n3 -2\n-1\n" + bytes(24), id="negative-height"),
        pytest.param(b"Pf\n3.0 2\n-1\n" + bytes(24), id="fractional-width"),
        pytest.param(b"Pf\n\xff\xfe 2\n-1\n" + bytes(24), id="non-ascii-width"),
        pytest.param(b"Pf\n3 2", id="header-ends-early"),
        pytest.param(b"Pf\n3 2\n-1", id="no-raster"),
        pytest.param(b"Pf\n3 2\nabc\n" + bytes(24), id="scale-not-a-number"),
        pytest.param(b"Pf\n3 2\n0\n" + bytes(24), id="zero-scale"),
        pytest.param(b"Pf\n3 2\nnan\n" + bytes(24), id="nan-scale"),
        pytest.param(b"Pf\n3 2\n1e999\n" + bytes(24), id="infinite-scale"),
        pytest.param(b"Pf\n# comment\n3 2\n-1\n" + bytes(24), id="comment"),
        pytest.param(b"Pf\n3 2\n-1\n" + bytes(23), id="truncated"),
        pytest.param(b"PF\n3 2\n-1\n" + bytes(24), id="colour-truncated"),
        pytest.param(b"Pf\n3 2\n-1\n" + bytes(25), id="trailing-byte"),
        pytest.param(b"Pf\n3 2\n-1\n" + b"x" * 10 + bytes(24), id="garbage-before-raster"),
        pytest.param(b"Pf\n" + b" " * 300 + b"3 2\n-1\n" + bytes(24), id="endless-header"),
    ],
)
def test_malformed_pfm(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pfm"
    path.write_bytes(content)
    assert_format_error(read_pfm, path)
    assert_format_error(read_disparity, path)


def test_pfm_absurd_size_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "huge.pfm"
    for size in (b"1000000000 1000000000", b"20000 20000", b"99999999999 1"):
        path.write_bytes(b"PF\n" + size + b"\n-1.0\n" + bytes(64))
        tracemalloc.start()
        try:
            assert_format_error(read_pfm, path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20, peak


@pytest.mark.parametrize("reader", [read_kitti_disparity, read_image, read_mask, read_disparity])
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"this is not an image\n" * 10, id="text"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(40), id="png-signature-then-zeros"),
        pytest.param(b"Pf\n\t\t ", id="pfm-header-that-makes-opencv-raise"),  # found by the fuzz test
    ],
)
def test_undecodable_png(tmp_path: Path, reader, content: bytes) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    assert_format_error(reader, path)


def test_png_chunk_length_past_the_end_is_refused_before_decoding(tmp_path: Path) -> None:
    # OpenCV 5.0 allocates a chunk's declared length up front: this ~80-byte file made it take 4 GB.
    resource = pytest.importorskip("resource")
    data = bytearray(cv2.imencode(".png", np.zeros((2, 6, 3), np.uint8))[1].tobytes())
    assert data[37:41] == b"IDAT"
    data[33:37] = (0xFD00_0000).to_bytes(4, "big")
    fix_png_crcs(data)
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for reader in PNG_READERS:
        assert "IDAT" in str(assert_format_error(reader, path))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown < 200 * 1024 * (1024 if sys.platform == "darwin" else 1), grown  # ru_maxrss is KiB on Linux

    path.write_bytes(cv2.imencode(".png", np.full((2, 6), 7, np.uint8))[1].tobytes() + b"trailing bytes")
    np.testing.assert_array_equal(read_mask(path), np.full((2, 6), 7))


def test_writers_need_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        write_pfm(tmp_path / "nowhere" / "x.pfm", np.zeros((2, 2)))


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "x.pfm"
    write_pfm(path, np.ones((2, 2)))
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("stereo_attn.data.io.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_pfm(path, np.zeros((3, 3)))
    assert path.read_bytes() == before  # the old file is untouched ...
    assert [p.name for p in tmp_path.iterdir()] == ["x.pfm"]  # ... and the temporary file is gone


# --------------------------------------------------------------------------------------------------------
# Fuzz: a reader either returns or raises DataFormatError; anything else escaping is a bug
# --------------------------------------------------------------------------------------------------------

PFM_READERS = [read_pfm, read_disparity]
PNG_READERS = [read_kitti_disparity, read_image, read_mask, read_disparity]


def read_all(path: Path, readers) -> None:
    for reader in readers:
        with contextlib.suppress(DataFormatError):  # anything else propagates and fails the test
            reader(path)


@FUZZ
@given(
    prefix=st.sampled_from([b"", b"Pf\n", b"PF\n", b"Pf\n3 2\n", b"PF 1 1 ", b"\x89PNG\r\n\x1a\n"]),
    body=st.binary(max_size=200),
)
def test_fuzz_arbitrary_bytes(tmp_path: Path, prefix: bytes, body: bytes) -> None:
    for name, readers in (("x.pfm", [*PFM_READERS, read_image]), ("x.png", PNG_READERS)):
        path = tmp_path / name
        path.write_bytes(prefix + body)
        read_all(path, readers)


def fix_png_crcs(data: bytearray) -> None:
    """Recompute every chunk's CRC, so that mutations reach the decoder instead of failing the checksum."""
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(data):
            return
        data[end : end + 4] = zlib.crc32(data[pos + 4 : end]).to_bytes(4, "big")
        pos = end + 4


def valid_file(kind: str, seed: int, height: int, width: int) -> bytes:
    rng = np.random.default_rng(seed)
    if kind == "pfm":
        shape = (height, width, 3) if seed % 2 else (height, width)
        header = f"{'PF' if seed % 2 else 'Pf'}\n{width} {height}\n{'-1.0' if seed % 3 else '1.0'}\n"
        return header.encode() + rng.normal(0, 10, shape).astype("<f4" if seed % 3 else ">f4").tobytes()
    channels = [(), (3,), (4,)][seed % 3]
    dtype = np.uint16 if seed % 2 else np.uint8
    image = rng.integers(0, 200, (height, width, *channels)).astype(dtype)
    return cv2.imencode(".png", image)[1].tobytes()


@FUZZ
@given(
    kind=st.sampled_from(["pfm", "png"]),
    seed=st.integers(0, 5),
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    mutations=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
    fix_crcs=st.booleans(),
)
def test_fuzz_mutated_valid_files(tmp_path: Path, kind, seed, size, mutations, cut, fix_crcs) -> None:
    data = bytearray(valid_file(kind, seed, *size))
    for position, value in mutations:
        data[position % len(data)] = value
    if cut is not None:
        del data[cut % (len(data) + 1) :]
    if kind == "png" and fix_crcs:
        fix_png_crcs(data)
    path = tmp_path / f"x.{kind}"
    path.write_bytes(bytes(data))
    read_all(path, PFM_READERS if kind == "pfm" else PNG_READERS)


def _smooth_photo(height: int, width: int, cells: int = 16) -> np.ndarray:
    rng = np.random.default_rng(4)
    small = rng.integers(0, 256, (max(2, height // cells), max(2, width // cells), 3)).astype(np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def test_read_photo_decodes_large_jpegs_reduced_and_resizes_to_max_side(tmp_path: Path, monkeypatch) -> None:
    bgr = _smooth_photo(1000, 2000, cells=100)  # features of 10 px at the output size
    path = tmp_path / "wide.jpg"
    cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    flags = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda buf, flag: flags.append(flag) or real_imdecode(buf, flag))
    photo = read_photo(path, 200)
    assert flags == [cv2.IMREAD_REDUCED_COLOR_8]  # 2000 / 8 = 250 still covers 200
    assert photo.shape == (100, 200, 3) and photo.dtype == np.uint8
    full = cv2.imread(str(path))[..., ::-1]
    reference = cv2.resize(full, (200, 100), interpolation=cv2.INTER_AREA)
    # Decoded at 1/8 in the DCT, then resized: close to decoding whole and resizing.
    assert np.abs(photo.astype(int) - reference.astype(int)).mean() < 3


def test_read_photo_keeps_small_photos_and_reads_pngs_exactly(tmp_path: Path) -> None:
    bgr = _smooth_photo(48, 64)
    cv2.imwrite(str(tmp_path / "small.png"), bgr)
    np.testing.assert_array_equal(read_photo(tmp_path / "small.png", 1024), bgr[..., ::-1])
    grey16 = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 20
    cv2.imwrite(str(tmp_path / "grey16.png"), grey16)
    photo = read_photo(tmp_path / "grey16.png", 1024)
    assert photo.shape == (48, 64, 3)
    np.testing.assert_array_equal(photo[..., 0], np.rint(grey16 / 65535 * 255).astype(np.uint8))


def test_read_photo_names_a_file_that_is_not_a_photo(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_bytes(b"hello")
    with pytest.raises(DataFormatError, match=r"notes\.png: an unrecognised file"):
        read_photo(tmp_path / "notes.png", 64)
