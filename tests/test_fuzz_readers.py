"""Mutation fuzzing of the file readers, and the bad cases it is about one by one.

A reader given any file must either return a well-formed array or raise DataFormatError: one line that
starts with the path and says what was expected (FileNotFoundError / OSError are for files that cannot
be opened, which a fuzzed file always can). Nothing from numpy, cv2 or struct may escape, no allocation
may follow from a size the header merely claims, and damage that can be recognised (truncation,
appended bytes, impossible header fields) must not come back as a plausible wrong array.

Valid files of every layout the readers accept are damaged by byte flips, byte overwrites, truncation,
insertion, deletion, appended garbage and format-aware header field changes (PFM tokens, PNG IHDR,
JPEG frame header, BMP and PNM sizes). Case ``n`` of a family draws everything from
``random.Random(f"{SEED}/{family}/{n}")``, so a failure message (family, base file, case, mutations)
is enough to rebuild the file. Where an independent decoder reads the same file (OpenCV for PFM,
Pillow for PNG, BMP and PNM), both must see the same picture.
"""

from __future__ import annotations

import io
import math
import random
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from stereo_attn.data import io as data_io
from stereo_attn.data.io import (
    DataFormatError,
    read_disparity,
    read_image,
    read_kitti_disparity,
    read_mask,
    read_pfm,
    write_kitti_disparity,
)

try:
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover - Pillow comes with imageio; without it, comparisons are skipped
    PILImage = None

# Mutated files per family: 6800 files and about 17000 reads in all, under 10 s on one core.
CASES = {"pfm": 2400, "png": 1400, "jpeg": 700, "bmp-pnm": 700, "kitti": 1600}
SEED = 20240601
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# --------------------------------------------------------------------------------------------------------
# Valid files
# --------------------------------------------------------------------------------------------------------


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, depth: int, colour: int, rows: bytes, extra: bytes = b"") -> bytes:
    """A PNG built by hand: IHDR (any declared size), optional chunks, one IDAT of ``rows``, IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + extra
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def fix_png_crcs(data: bytearray) -> None:
    """Recompute every chunk's CRC, so that a mutation reaches the decoder instead of the checksum."""
    pos = 8
    while pos + 12 <= len(data):
        end = pos + 8 + int.from_bytes(data[pos : pos + 4], "big")
        if end + 4 > len(data):
            return
        data[end : end + 4] = zlib.crc32(data[pos + 4 : end]).to_bytes(4, "big")
        pos = end + 4


def encode(ext: str, image: np.ndarray, *params: int) -> bytes:
    ok, encoded = cv2.imencode(ext, image, list(params))
    assert ok
    return encoded.tobytes()


def pfm_fields(magic: bytes, array: np.ndarray, little_endian: bool) -> list[bytes]:
    """A PFM file as its parts: magic, sep, width, sep, height, sep, scale, sep, raster."""
    raster = np.ascontiguousarray(array[::-1], "<f4" if little_endian else ">f4").tobytes()
    height, width = array.shape[:2]
    scale = b"-1.0" if little_endian else b"1.0"
    return [magic, b"\n", str(width).encode(), b" ", str(height).encode(), b"\n", scale, b"\n", raster]


def pfm_bases() -> list[list[bytes]]:
    rng = np.random.default_rng(0)
    bases = []
    for magic, channels in ((b"Pf", ()), (b"PF", (3,))):
        for little_endian in (True, False):
            for height, width in ((1, 1), (3, 5), (6, 2)):
                array = rng.normal(0, 50, (height, width, *channels)).astype(np.float32)
                array.reshape(-1)[:2] = [np.inf, np.nan][: array.size]  # Middlebury marks unknowns so
                if width != 5:
                    # The raster (bottom row first) starts with whitespace bytes, as a sample can: the
                    # case where bytes appended to the file used to shift the raster unnoticed.
                    order = "<f4" if little_endian else ">f4"
                    array[(-1, 0, 0)[: array.ndim]] = np.frombuffer(b" \n\x80\x3f", order)[0]
                bases.append(pfm_fields(magic, array, little_endian))
    return bases


def picture(height: int, width: int, channels: int, dtype, seed: int) -> np.ndarray:
    full = np.iinfo(dtype).max
    shape = (height, width, channels) if channels > 1 else (height, width)
    image = np.random.default_rng(seed).integers(0, full, shape, endpoint=True).astype(dtype)
    image.reshape(-1)[:2] = [0, full][: image.size]
    return image


def png_bases() -> list[bytes]:
    bases = [
        encode(".png", picture(h, w, c, dtype, seed=c))
        for dtype in (np.uint8, np.uint16)
        for c, (h, w) in ((1, (5, 7)), (3, (4, 6)), (4, (3, 5)))
    ]
    bases.append(encode(".png", picture(1, 1, 1, np.uint8, seed=9)))
    bases.append(png_bytes(8, 2, 1, 0, b"\x00\xa5\x00\x5a"))  # 1-bit grey
    palette = chunk(b"PLTE", bytes(range(12))) + chunk(b"tRNS", b"\x00\xff")
    bases.append(png_bytes(3, 2, 8, 3, b"\x00\x00\x01\x02\x00\x03\x01\x00", palette))  # palette + alpha
    bases.append(png_bytes(2, 2, 8, 4, b"\x00" + bytes([10, 255, 20, 0]) + b"\x00" + bytes(4)))  # grey+alpha
    return bases


def jpeg_bases() -> list[bytes]:
    colour = picture(16, 24, 3, np.uint8, seed=3)
    return [
        encode(".jpg", colour, cv2.IMWRITE_JPEG_QUALITY, 90),
        encode(".jpg", picture(9, 13, 1, np.uint8, seed=4)),
        encode(".jpg", colour, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
    ]


def bmp_pnm_bases() -> list[bytes]:
    return [
        encode(".bmp", picture(4, 5, 3, np.uint8, seed=5)),
        encode(".bmp", picture(3, 6, 1, np.uint8, seed=6)),
        encode(".ppm", picture(4, 3, 3, np.uint8, seed=7)),
        encode(".pgm", picture(3, 4, 1, np.uint16, seed=8)),
        b"P5\n# a comment\n3 2\n255\n\x00\x01\x02\xfd\xfe\xff",
        b"P4\n8 2\n\xa5\x5a",
    ]


def kitti_bases(tmp_path: Path) -> list[bytes]:
    rng = np.random.default_rng(1)
    bases = []
    for height, width in ((4, 9), (1, 1), (7, 3)):
        value = rng.integers(0, 65535, (height, width), endpoint=True).astype(np.uint16)
        value.reshape(-1)[: min(3, value.size)] = [0, 65535, 1][: value.size]
        bases.append(encode(".png", value))
    path = tmp_path / "written.png"
    write_kitti_disparity(path, rng.uniform(0, 200, (5, 8)), rng.random((5, 8)) > 0.3)
    bases.append(path.read_bytes())
    bases.append(encode(".png", np.zeros((3, 4), np.uint16), cv2.IMWRITE_PNG_COMPRESSION, 0))
    return bases


# --------------------------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------------------------

INTERESTING_BYTES = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0x20, 0x0A, 0x0D, 0x09, 0x30, 0x39, 0x2D, 0x2E, 0x23]
INTERESTING_U32 = [0, 1, 2, 255, 256, 65535, 65536, 100_000, 1 << 26, (1 << 26) + 1, 0x7FFFFFFF, 0xFFFFFFFF]
INTERESTING_U16 = [0, 1, 2, 255, 256, 0x7FFF, 0x8000, 65500, 0xFFFF]
PFM_TOKENS = [
    *(b"0", b"-0", b"-1", b"-3", b"1", b"2", b"00003", b"+3", b"3.0", b"3.", b"1e3", b"0x3"),
    *(b"99999999999", b"4294967297", b"100000", b"8193", b"9999999999"),
    *(b"nan", b"inf", b"-inf", b"1e999", b"-1e999", b"1e-999", b"0.0", b"-1.0", b"1.0", b"-2.5", b"1e-30"),
    *(b"", b"#", b"#c\n1", b"\xff", b"\xd9\xa3", b"\xe2\x88\x921", b"1\x00", b"\xa0", b"1 1"),
]
PFM_MAGICS = [b"PF", b"Pf", b"pf", b"P6", b"PFM", b"P\xc6", b"", b"\xfePf", b"Pf\x00"]
SEPARATORS = [b"\n", b" ", b"\t", b"\r\n", b" \n", b"\n\n", b"", b"\x00", b"\xa0", b"\x0b", b"  \t \n", b"\r"]
GARBAGE = [b"\n", b"\x00", b" ", b"junk", b"\x89PNG\r\n\x1a\n", b"\xff\xd9", b"\x00" * 64, b"Pf\n1 1\n-1\n"]


@dataclass
class Mutant:
    data: bytearray
    log: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)  # the mutations applied

    @property
    def cut_or_padded(self) -> bool:
        """Only truncated, or only bytes appended: nothing of the original changed, so the reader must
        refuse the file or read exactly what the original reads (e.g. bytes after PNG's IEND)."""
        return self.kinds in ({"truncate"}, {"append"})


def flip_bits(m: Mutant, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(m.data))
        m.data[pos] ^= 1 << rng.randrange(8)
        m.log.append(f"flip@{pos}")


def set_bytes(m: Mutant, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(m.data))
        m.data[pos] = rng.choice(INTERESTING_BYTES) if rng.random() < 0.7 else rng.randrange(256)
        m.log.append(f"set@{pos}={m.data[pos]}")


def truncate(m: Mutant, rng: random.Random) -> None:
    cut = rng.randrange(len(m.data))
    del m.data[cut:]
    m.log.append(f"truncate@{cut}")


def insert(m: Mutant, rng: random.Random) -> None:
    pos = rng.randrange(len(m.data) + 1)
    blob = rng.choice([bytes([rng.choice(INTERESTING_BYTES)]), rng.randbytes(rng.randint(1, 16))])
    m.data[pos:pos] = blob
    m.log.append(f"insert@{pos}:{blob.hex()}")


def delete(m: Mutant, rng: random.Random) -> None:
    pos = rng.randrange(len(m.data))
    size = rng.randint(1, 16)
    del m.data[pos : pos + size]
    m.log.append(f"delete@{pos}+{size}")


def splice(m: Mutant, rng: random.Random) -> None:
    start = rng.randrange(len(m.data))
    piece = bytes(m.data[start : start + rng.randint(1, 64)])
    pos = rng.randrange(len(m.data))
    m.data[pos : pos + len(piece)] = piece
    m.log.append(f"splice {start}->{pos}+{len(piece)}")


def append(m: Mutant, rng: random.Random) -> None:
    tail = rng.choice([*GARBAGE, rng.randbytes(rng.randint(1, 64)), bytes(m.data)])
    m.data += tail
    m.log.append(f"append {len(tail)} bytes")


def put_uint(m: Mutant, pos: int, size: int, value: int, order: str, what: str) -> None:
    if pos + size <= len(m.data):
        m.data[pos : pos + size] = (value % (1 << (8 * size))).to_bytes(size, order)
        m.log.append(f"{what}={value}")


def mutate_png_header(m: Mutant, rng: random.Random) -> None:
    """IHDR fields (size, bit depth, colour type, interlace), with its CRC fixed so libpng reads them."""
    width = int.from_bytes(m.data[16:20], "big")
    field_name = rng.choice(["width", "height", "depth", "colour", "interlace"])
    if field_name in ("width", "height"):
        value = rng.choice([*INTERESTING_U32, width + 1, max(width - 1, 0), 2 * width])
        put_uint(m, 16 if field_name == "width" else 20, 4, value, "big", field_name)
    else:
        values = {
            "depth": [0, 1, 2, 4, 8, 16, 3, 255],
            "colour": [0, 1, 2, 3, 4, 6, 7],
            "interlace": [0, 1, 2],
        }
        put_uint(
            m,
            {"depth": 24, "colour": 25, "interlace": 28}[field_name],
            1,
            rng.choice(values[field_name]),
            "big",
            field_name,
        )
    if len(m.data) >= 33:
        m.data[29:33] = zlib.crc32(m.data[12:29]).to_bytes(4, "big")


def mutate_jpeg_header(m: Mutant, rng: random.Random) -> None:
    """The first frame header's precision, height, width or component count."""
    sof = max(m.data.find(b"\xff\xc0"), m.data.find(b"\xff\xc2"))  # baseline or progressive
    if sof < 0:
        return flip_bits(m, rng)
    field_name = rng.choice(["precision", "height", "width", "components"])
    offset, size = {"precision": (4, 1), "height": (5, 2), "width": (7, 2), "components": (9, 1)}[field_name]
    value = rng.choice(INTERESTING_U16 if size == 2 else [0, 1, 2, 3, 4, 8, 12, 16, 255])
    put_uint(m, sof + offset, size, value, "big", field_name)
    return None


def mutate_bmp_header(m: Mutant, rng: random.Random) -> None:
    field_name = rng.choice(["info size", "width", "height", "bits", "offset"])
    pos, size = {
        "info size": (14, 4),
        "width": (18, 4),
        "height": (22, 4),
        "bits": (28, 2),
        "offset": (10, 4),
    }[field_name]
    values = (
        [*INTERESTING_U32, -1, -2, -(1 << 31), 12, 40, 124] if size == 4 else [0, 1, 4, 8, 16, 24, 32, 64]
    )
    put_uint(m, pos, size, rng.choice(values), "little", field_name)


def mutate_pnm_header(m: Mutant, rng: random.Random) -> None:
    tokens = bytes(m.data).split(maxsplit=4 if m.data[:2] not in (b"P1", b"P4") else 3)
    if len(tokens) < 4:
        return flip_bits(m, rng)
    index = rng.randrange(len(tokens) - 1)  # not the raster
    tokens[index] = rng.choice([*PFM_TOKENS, b"P7", b"15", b"1023", b"256", b"65536"])
    m.data[:] = b"\n".join(tokens)
    m.log.append(f"pnm token {index}={tokens[index]!r}")
    return None


def header_mutation(kind: str) -> Callable[[Mutant, random.Random], None]:
    return {"png": mutate_png_header, "jpeg": mutate_jpeg_header, "bmp": mutate_bmp_header}.get(
        kind, mutate_pnm_header
    )


GENERIC = [flip_bits, set_bytes, truncate, insert, delete, splice, append]


def mutate(data: bytes, rng: random.Random, header: Callable[[Mutant, random.Random], None] | None) -> Mutant:
    """One to three mutations; a format-aware header change for about a quarter of the files."""
    m = Mutant(bytearray(data))
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if not m.data:
            break
        mutation = header if header is not None and rng.random() < 0.25 else rng.choice(GENERIC)
        mutation(m, rng)
        m.kinds.add(mutation.__name__)
    if data.startswith(PNG_SIGNATURE) and rng.random() < 0.6:
        fix_png_crcs(m.data)  # or libpng's CRC check would stop most mutations before they are decoded
        m.log.append("crcs fixed")
    return m


def mutate_pfm(fields: list[bytes], rng: random.Random) -> Mutant:
    """PFM: either replace header fields (magic, numbers, separators) or damage the bytes generically."""
    if rng.random() < 0.4:
        width, height = int(fields[2]), int(fields[4])
        near = [str(v).encode() for v in (width + 1, height + 1, width * height, width - 1, height)]
        fields = list(fields)
        log = []
        for _ in range(rng.randint(1, 2)):
            index = rng.randrange(8)
            if index == 0:
                fields[0] = rng.choice(PFM_MAGICS)
            elif index % 2:
                fields[index] = rng.choice(SEPARATORS)
            else:
                fields[index] = rng.choice(PFM_TOKENS + near)
            log.append(f"field {index}={fields[index]!r}")
        return Mutant(bytearray(b"".join(fields)), log, {"pfm fields"})
    return mutate(b"".join(fields), rng, None)


# --------------------------------------------------------------------------------------------------------
# What a reader may return
# --------------------------------------------------------------------------------------------------------


def check_image(image: np.ndarray, data: bytes) -> None:
    assert isinstance(image, np.ndarray) and image.dtype == np.float32 and image.flags.c_contiguous
    assert image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 1
    assert image.shape[0] * image.shape[1] <= data_io.MAX_IMAGE_PIXELS
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1


def check_mask(mask: np.ndarray, data: bytes) -> None:
    assert isinstance(mask, np.ndarray) and mask.dtype == np.uint8 and mask.ndim == 2
    assert min(mask.shape) >= 1 and mask.flags.c_contiguous


def check_pfm(array: np.ndarray, data: bytes) -> None:
    assert isinstance(array, np.ndarray) and array.dtype == np.float32 and array.flags.c_contiguous
    assert array.ndim == (3 if data[:2] == b"PF" else 2) and min(array.shape[:2]) >= 1
    assert array.ndim == 2 or array.shape[2] == 3
    assert array.size * 4 < len(data)  # the raster was really there


def check_kitti(result: tuple[np.ndarray, np.ndarray], data: bytes) -> None:
    disparity, valid = result
    assert disparity.dtype == np.float32 and disparity.ndim == 2 and min(disparity.shape) >= 1
    assert valid.dtype == bool and valid.shape == disparity.shape
    assert np.isfinite(disparity).all() and disparity.min() >= 0 and disparity.max() <= 65535 / 256
    np.testing.assert_array_equal(valid, disparity > 0)


def check_pfm_disparity(result: tuple[np.ndarray, np.ndarray], data: bytes) -> None:
    disparity, valid = result
    assert disparity.dtype == np.float32 and disparity.ndim == 2 and disparity.flags.c_contiguous
    np.testing.assert_array_equal(valid, np.isfinite(disparity))


def same(a: object, b: object) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(same, a, b))
    return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


Reader = Callable[[Path], object]
Check = Callable[[object, bytes], None]


def outcome(reader: Reader, check: Check, path: Path, data: bytes, context: str) -> object | None:
    """The reader's result (checked) or None after a well-formed DataFormatError; anything else fails."""
    try:
        result = reader(path)
    except DataFormatError as error:
        message = str(error)
        assert message.startswith(f"{path}: "), f"{context}: {message}"
        assert "\n" not in message and "expected" in message, f"{context}: {message!r}"
        return None
    except Exception as error:  # the point of the test: report what escaped, with the reproducer
        pytest.fail(f"{context}: {reader.__name__} raised {type(error).__name__}: {error}")
    try:
        check(result, data)
    except AssertionError as error:
        pytest.fail(f"{context}: {reader.__name__} returned a malformed result: {error}")
    return result


def fuzz(
    tmp_path: Path,
    family: str,
    bases: list[bytes],
    make: Callable[[int, random.Random], Mutant],
    readers: list[tuple[Reader, Check]],
    suffix: str,
    must_fail_on_length_change: bool = False,
    differential: Callable[[bytes, object, str], None] | None = None,
) -> dict[str, int]:
    path = tmp_path / f"fuzz{suffix}"
    originals = []
    for index, data in enumerate(bases):
        path.write_bytes(data)
        results = [outcome(reader, check, path, data, f"{family} base {index}") for reader, check in readers]
        assert results[0] is not None, f"{family} base {index} does not read"
        originals.append(results)  # what the others give may be a refusal (a colour image as a mask)
    counts = {"files": 0, "read": 0, "refused": 0}
    for case in range(CASES[family]):
        rng = random.Random(f"{SEED}/{family}/{case}")
        index = rng.randrange(len(bases))
        mutant = make(index, rng)
        data = bytes(mutant.data)
        context = f"{family} base {index} case {case} [{', '.join(mutant.log)}]"
        path.write_bytes(data)
        counts["files"] += 1
        results = []
        for (reader, check), original in zip(readers, originals[index], strict=True):
            result = outcome(reader, check, path, data, context)
            results.append(result)
            counts["refused" if result is None else "read"] += 1
            if result is None or not mutant.cut_or_padded or data == bases[index]:
                continue
            assert not must_fail_on_length_change, f"{context}: {reader.__name__} read a damaged file"
            assert same(original, result), f"{context}: {reader.__name__} read a different array"
        if differential is not None:
            differential(data, results[0], context)
    return counts


# --------------------------------------------------------------------------------------------------------
# The fuzz tests
# --------------------------------------------------------------------------------------------------------


def pfm_against_opencv(data: bytes, ours: object, context: str) -> None:
    """Where our reader accepts a file with a one-byte separator and scale +-1, OpenCV must agree."""
    if ours is None:
        return
    header = data[: len(data) - ours.size * 4]
    tokens = header.split()
    if len(tokens) != 4 or not header[-1:].isspace() or header[-2:-1].isspace():
        return
    if abs(float(tokens[3])) != 1:  # OpenCV divides by the scale's magnitude, we do not (documented)
        return
    try:
        theirs = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # OpenCV refusing (e.g. a size it asserts on) is not a disagreement
        theirs = None
    if theirs is not None:
        theirs = theirs[..., ::-1] if theirs.ndim == 3 else theirs
        assert same(ours, np.ascontiguousarray(theirs)), f"{context}: differs from OpenCV"


def test_fuzz_pfm(tmp_path: Path) -> None:
    bases = pfm_bases()
    counts = fuzz(
        tmp_path,
        "pfm",
        [b"".join(fields) for fields in bases],
        lambda index, rng: mutate_pfm(bases[index], rng),
        [(read_pfm, check_pfm), (read_disparity, check_pfm_disparity)],
        ".pfm",
        must_fail_on_length_change=True,  # the raster size is known: any cut or padding is an error
        differential=pfm_against_opencv,
    )
    assert counts["read"] > 300 and counts["refused"] > 2000, counts  # both outcomes really exercised


IMAGE_READERS = [(read_image, check_image), (read_mask, check_mask)]


@pytest.mark.parametrize(
    ("family", "bases", "kind", "suffix"),
    [
        ("png", png_bases, "png", ".png"),
        ("jpeg", jpeg_bases, "jpeg", ".jpg"),
        ("bmp-pnm", bmp_pnm_bases, None, ".img"),
    ],
)
def test_fuzz_images(tmp_path: Path, family: str, bases, kind: str | None, suffix: str) -> None:
    files = bases()

    def make(index: int, rng: random.Random) -> Mutant:
        data = files[index]
        header = header_mutation(kind or ("bmp" if data.startswith(b"BM") else "pnm"))
        return mutate(data, rng, header)

    # JPEG is left out of the comparison: two libjpeg builds may round differently, and damaged JPEG
    # data decodes (with a warning) to whatever each decoder's error recovery makes of it.
    differential = None if family == "jpeg" else image_against_pillow
    counts = fuzz(tmp_path, family, files, make, IMAGE_READERS, suffix, differential=differential)
    assert counts["read"] > 100 and counts["refused"] > 100, counts


def pillow_rgb(data: bytes) -> np.ndarray | None:
    """The file as Pillow decodes it, float RGB in [0, 1] (alpha dropped), or None if it cannot."""
    try:
        with PILImage.open(io.BytesIO(data)) as image, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's advice on palette transparency
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                grey = np.asarray(image).astype(np.float64) / 65535
                return np.repeat(grey[..., None], 3, axis=2)
            if image.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA"):
                return None
            return np.asarray(image.convert("RGB")).astype(np.float64) / 255
    except Exception:  # Pillow refusing a damaged file is not what is tested here
        return None


def reduced_bmp_palette(data: bytes) -> bool:
    """A palette BMP with fewer colours than its bit depth allows: a pixel index beyond them is damage to
    the pixels (undetectable, as in any BMP), which OpenCV reads as black and Pillow otherwise."""
    if data[:2] != b"BM" or len(data) < 50 or int.from_bytes(data[14:18], "little") < 40 or data[28] > 8:
        return False
    return 0 < int.from_bytes(data[46:50], "little") < 1 << data[28]


def image_against_pillow(data: bytes, ours: object, context: str) -> None:
    """Where both read a file, an independent decoder (Pillow) must see the same picture.

    This is what catches a plausible wrong answer, such as a 15-level PGM read as a nearly black image.
    Pillow keeps only the high byte of 16-bit colour, hence the tolerance of one 8-bit level.
    """
    if ours is None or PILImage is None or reduced_bmp_palette(data):
        return
    theirs = pillow_rgb(data)
    if theirs is not None:
        assert theirs.shape == ours.shape, f"{context}: {ours.shape} here, {theirs.shape} in Pillow"
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1 / 255 + 1e-6, err_msg=context)


def kitti_against_pillow(data: bytes, ours: object, context: str) -> None:
    """Where both decode a 16-bit grey PNG, an independent decoder (Pillow's) gives the same values."""
    if ours is None or PILImage is None:
        return
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in ("I;16", "I;16B", "I"):
                return
            theirs = np.asarray(image).astype(np.int64)
    except Exception:  # Pillow refusing a damaged file is not what is tested here
        return
    np.testing.assert_array_equal(ours[0] * 256, theirs, err_msg=context)


def test_fuzz_kitti(tmp_path: Path) -> None:
    files = kitti_bases(tmp_path)
    readers = [
        (read_kitti_disparity, check_kitti),
        (read_disparity, check_kitti),
        (read_image, check_image),
        (read_mask, check_mask),
    ]
    counts = fuzz(
        tmp_path,
        "kitti",
        files,
        lambda index, rng: mutate(files[index], rng, mutate_png_header),
        readers,
        ".png",
        differential=kitti_against_pillow,
    )
    assert counts["read"] > 500 and counts["refused"] > 2000, counts


# --------------------------------------------------------------------------------------------------------
# The bad cases one by one
# --------------------------------------------------------------------------------------------------------


def refused(reader: Reader, path: Path, *words: str) -> str:
    with pytest.raises(DataFormatError) as caught:
        reader(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "expected" in message and "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


def pfm(header: bytes, values: list[float], order: str = "<") -> bytes:
    return header + struct.pack(f"{order}{len(values)}f", *values)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(pfm(b"Pf\n4 3\n-1\n", [0.0] * 9), ["36"], id="header-larger-than-data"),
        pytest.param(pfm(b"PF\n3 3\n-1\n", [0.0] * 9), ["108"], id="colour-header-larger-than-data"),
        pytest.param(pfm(b"Pf\n2 2\n-1\n", [0.0] * 6), ["16"], id="header-smaller-than-data"),
        pytest.param(pfm(b"Pf\n0 3\n-1\n", []), ["width"], id="zero-width"),
        pytest.param(pfm(b"Pf\n3 0\n-1\n", []), ["height"], id="zero-height"),
        pytest.param(pfm(b"Pf\n-3 1\n-1\n", [0.0] * 3), ["width"], id="negative-width"),
        pytest.param(pfm(b"Pf\n1 99999999999\n-1\n", [0.0]), ["height"], id="eleven-digit-height"),
        pytest.param(pfm(b"Pf\n100000 100000\n-1\n", [0.0]), ["MAX_IMAGE_PIXELS"], id="huge-dimensions"),
        pytest.param(pfm(b"Pf\n1 1\n0\n", [1.0]), ["scale"], id="zero-scale"),
        pytest.param(pfm(b"Pf\n1 1\n-0.0\n", [1.0]), ["scale"], id="negative-zero-scale"),
        pytest.param(pfm(b"Pf\n1 1\n1e-999\n", [1.0]), ["scale"], id="scale-underflowing-to-zero"),
        pytest.param(pfm(b"Pf\n1 1\nnan\n", [1.0]), ["scale"], id="nan-scale"),
        pytest.param(pfm(b"Pf\n1 1\n-inf\n", [1.0]), ["scale"], id="inf-scale"),
        pytest.param(pfm(b"Pf\n1 1\n1e999\n", [1.0]), ["scale"], id="overflowing-scale"),
        pytest.param(pfm(b"P\xc6\n1 1\n-1\n", [1.0]), ["magic"], id="non-ascii-magic"),
        pytest.param(pfm(b"Pf\n\xd9\xa3 1\n-1\n", [1.0] * 3), ["width"], id="arabic-digit-width"),
        pytest.param(pfm(b"Pf\n1 1\n\xe2\x88\x921\n", [1.0]), ["scale"], id="unicode-minus-scale"),
        pytest.param(pfm(b"Pf\xa01 1\n-1\n", [1.0]), ["whitespace"], id="non-breaking-space"),
        pytest.param(pfm(b"Pf\n1 1\n-1\n", [1.0]) + b"x", ["5 bytes"], id="one-trailing-byte"),
        pytest.param(pfm(b"Pf\n1 1\n-1\n", [1.0]) + b"\n" * 3, ["7 bytes"], id="trailing-newlines"),
        pytest.param(pfm(b"Pf\n1 1\n-1\n\n", [1.0]), ["5 bytes"], id="blank-line-before-raster"),
    ],
)
def test_bad_pfm(tmp_path: Path, content: bytes, words: list[str]) -> None:
    path = tmp_path / "bad.pfm"
    path.write_bytes(content)
    refused(read_pfm, path, *words)
    refused(read_disparity, path, *words)


def test_pfm_trailing_garbage_is_not_read_as_a_shifted_raster(tmp_path: Path) -> None:
    # Found by the fuzz test: the raster is the last width*height*4 bytes, and the reader used to accept
    # any whitespace run before it. When the first sample's first bytes happen to be whitespace (0x20,
    # 0x09, ...), appending as many bytes shifted the raster into a wrong image that read without error.
    raster = np.array([[5.0, 6.0]], "<f4")
    raster.view(np.uint8)[0, 0] = 0x20  # the first sample's low mantissa byte is a space
    path = tmp_path / "x.pfm"
    path.write_bytes(b"Pf\n2 1\n-1.0\n" + raster.tobytes())
    np.testing.assert_array_equal(read_pfm(path), raster)  # intact: read
    for tail in (b"Z", b"\x00"):
        path.write_bytes(b"Pf\n2 1\n-1.0\n" + raster.tobytes() + tail)
        refused(read_pfm, path, "9 bytes", "expected 8")


@pytest.mark.parametrize("separator", [b"\n", b" ", b"\r", b"\r\n", b" \n", b"\t\t\r\n"])
@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("magic", [b"Pf", b"PF"])
def test_pfm_separators_and_byte_orders_still_read(tmp_path: Path, separator, little_endian, magic) -> None:
    rng = np.random.default_rng(2)
    array = rng.normal(0, 10, (3, 4, 3) if magic == b"PF" else (3, 4)).astype(np.float32)
    fields = pfm_fields(magic, array, little_endian)
    fields[7] = separator
    path = tmp_path / "x.pfm"
    path.write_bytes(b"".join(fields))
    np.testing.assert_array_equal(read_pfm(path), array)


def test_huge_scale_pfm_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "x.pfm"
    path.write_bytes(pfm(b"Pf\n1 1\n-3.4e38\n", [math.pi]))
    assert read_pfm(path)[0, 0] == np.float32(math.pi)


def test_pfm_size_limit_is_the_named_constant(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "x.pfm"
    path.write_bytes(pfm(b"Pf\n3 2\n-1\n", [0.0] * 6))
    assert read_pfm(path).shape == (2, 3)
    monkeypatch.setattr(data_io, "MAX_IMAGE_PIXELS", 5)
    refused(read_pfm, path, "3x2", "MAX_IMAGE_PIXELS = 5")


@pytest.mark.parametrize("magic", [b"Pf", b"PF"])
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_pfm_matches_opencv(tmp_path: Path, magic: bytes, order: str, scale: float) -> None:
    # Equivalence with an independent parser on hand-built files: same samples, same orientation and
    # channel order; OpenCV divides by the scale's magnitude where this reader returns samples as stored.
    rng = np.random.default_rng(3)
    array = rng.normal(0, 10, (5, 3, 3) if magic == b"PF" else (5, 3)).astype(np.float32)
    sign = -1 if order == "<" else 1
    path = tmp_path / "x.pfm"
    raster = np.ascontiguousarray(array[::-1], f"{order}f4").tobytes()
    path.write_bytes(magic + f"\n3 5\n{sign * scale}\n".encode() + raster)
    theirs = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    theirs = theirs[..., ::-1] if theirs.ndim == 3 else theirs
    np.testing.assert_array_equal(read_pfm(path), array)
    np.testing.assert_allclose(theirs, array / np.float32(scale), rtol=1e-6)


# ------------------------------------------------------------------------------ decompression bombs


def no_decoding(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("cv2.imdecode called for a file whose header should have been refused")

    monkeypatch.setattr(cv2, "imdecode", refuse)


PNG_READERS = [read_image, read_kitti_disparity, read_mask, read_disparity]


@pytest.mark.parametrize("depth", [8, 16])
def test_png_bomb_is_refused_before_decoding(tmp_path: Path, monkeypatch, depth: int) -> None:
    # 100000 x 100000 declared by a 70-byte file; zlib can really inflate a few MB into that.
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(100_000, 100_000, depth, 0, bytes(1000)))
    no_decoding(monkeypatch)
    for reader in PNG_READERS:
        refused(reader, path, "100000x100000", f"MAX_IMAGE_PIXELS = {data_io.MAX_IMAGE_PIXELS}")


def test_pixel_limit_is_the_named_constant(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "x.png"
    monkeypatch.setattr(data_io, "MAX_IMAGE_PIXELS", 100)
    path.write_bytes(encode(".png", np.zeros((10, 10), np.uint16)))
    assert read_kitti_disparity(path)[0].shape == (10, 10)  # at the limit: read
    path.write_bytes(encode(".png", np.zeros((10, 11), np.uint16)))
    no_decoding(monkeypatch)
    for reader in PNG_READERS:
        refused(reader, path, "11x10", "MAX_IMAGE_PIXELS = 100")


def test_jpeg_bmp_pnm_bombs_are_refused_before_decoding(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "bomb.img"
    jpeg = bytearray(encode(".jpg", np.zeros((8, 8, 3), np.uint8)))
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65535, 65535)
    bmp = bytearray(encode(".bmp", np.zeros((2, 2, 3), np.uint8)))
    bmp[18:26] = struct.pack("<ii", 100_000, -100_000)  # negative: top-down, still 1e10 pixels
    no_decoding(monkeypatch)
    for content, size in (
        (bytes(jpeg), "65535x65535"),
        (bytes(bmp), "100000x100000"),
        (b"P5\n100000 100000\n255\n" + bytes(100), "100000x100000"),
        (b"P4\n# comment\n100000 100000\n" + bytes(100), "100000x100000"),
    ):
        path.write_bytes(content)
        refused(read_image, path, size, "MAX_IMAGE_PIXELS")
        refused(read_mask, path, size, "MAX_IMAGE_PIXELS")


@pytest.mark.parametrize(("width", "height"), [(0, 5), (5, 0), (0, 0)])
def test_empty_images_are_refused(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(png_bytes(width, height, 16, 0, b""))
    for reader in PNG_READERS:
        refused(reader, path, f"{width}x{height}", "size > 0")
    jpeg = bytearray(encode(".jpg", np.zeros((8, 8), np.uint8)))
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(jpeg))
    refused(read_image, path, f"{width}x{height}")
    path.write_bytes(f"P5\n{width} {height}\n255\n".encode())
    refused(read_image, path, f"{width}x{height}")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(b"\xff\xd8\xff\xda\x00\x02", ["0xDA"], id="scan-before-frame"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF", ["0xE0 at byte 3"], id="truncated-app0"),
        pytest.param(b"\xff\xd8garbage", ["byte 2"], id="no-marker"),
        pytest.param(
            b"\xff\xd8\xff\xc1\x00\x0b\x0c\x00\x08\x00\x08\x01\x01\x11\x00", ["12-bit"], id="12-bit"
        ),
        pytest.param(b"BM" + bytes(12) + struct.pack("<I", 20) + bytes(16), ["BMP"], id="bmp-info-size"),
        pytest.param(b"P5\n3 2\n15\n" + bytes(6), ["maxval 15"], id="pgm-maxval-15"),
        pytest.param(b"P2\n3 1\n255\n0 300 255\n", ["ASCII PNM"], id="ascii-pgm"),
        pytest.param(b"P1\n3 1\n1 2 0\n", ["ASCII PNM"], id="ascii-pbm"),
        pytest.param(b"P6\n1 1\n1023\n" + bytes(6), ["maxval 1023"], id="ppm-maxval-1023"),
        pytest.param(b"P5 x 2\n255\n", ["byte 2"], id="pnm-letter-for-width"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + chunk(b"tEXt", b"a"), ["IHDR"], id="png-without-ihdr"),
        pytest.param(b"II*\x00" + bytes(20), ["TIFF"], id="tiff"),
        pytest.param(b"RIFF\x1a\x00\x00\x00WEBPVP8L", ["RIFF (WebP?)"], id="webp"),
        pytest.param(b"GIF89a" + bytes(20), ["GIF"], id="gif"),
        pytest.param(pfm(b"Pf\n1 1\n-1\n", [0.5]), ["float32 PFM"], id="pfm"),
        pytest.param(b"\x00\x01\x02 text", ["unrecognised"], id="unknown"),
    ],
)
def test_bad_image_headers(tmp_path: Path, content: bytes, words: list[str]) -> None:
    path = tmp_path / "bad.img"
    path.write_bytes(content)
    refused(read_image, path, *words)
    refused(read_mask, path, *words)


# ------------------------------------------------------------------------------ KITTI disparity


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(encode(".png", np.full((3, 4), 7, np.uint8)), ["uint8", "1 channel"], id="8-bit"),
        pytest.param(encode(".png", np.zeros((3, 4, 3), np.uint16)), ["3 channels"], id="16-bit-rgb"),
        pytest.param(encode(".png", np.zeros((3, 4, 4), np.uint16)), ["4 channels"], id="16-bit-rgba"),
        pytest.param(png_bytes(1, 1, 16, 4, bytes(5)), ["4 channels"], id="16-bit-grey-alpha"),
        pytest.param(png_bytes(8, 1, 1, 0, b"\x00\xa5"), ["uint8"], id="1-bit"),
        pytest.param(encode(".jpg", np.zeros((3, 4), np.uint8)), ["JPEG"], id="jpeg"),
        pytest.param(encode(".pgm", np.zeros((3, 4), np.uint16)), ["PNM"], id="16-bit-pgm"),
        pytest.param(encode(".tiff", np.zeros((3, 4), np.uint16)), ["TIFF"], id="16-bit-tiff"),
        pytest.param(pfm(b"Pf\n1 1\n-1\n", [0.5]), ["PFM"], id="pfm"),
    ],
)
def test_kitti_refuses_what_is_not_a_16_bit_grey_png(tmp_path: Path, content: bytes, words) -> None:
    path = tmp_path / "disp.png"
    path.write_bytes(content)
    refused(read_kitti_disparity, path, "16-bit single-channel PNG", *words)
    refused(read_disparity, path, *words)


# ------------------------------------------------------------------------------ read_image conversions


def layouts(grey: np.ndarray) -> dict[str, bytes]:
    """One grey picture stored in every layout read_image accepts."""
    height, width = grey.shape
    wide = grey.astype(np.uint16) * 257  # the same picture at 16 bits: 255 * 257 = 65535
    rgb = np.repeat(grey[..., None], 3, axis=2)
    alpha = np.full((height, width, 1), 77, np.uint8)
    palette_values = np.unique(grey)
    index = np.searchsorted(palette_values, grey).astype(np.uint8)
    plte = chunk(b"PLTE", np.repeat(palette_values, 3).tobytes())
    rows = b"".join(b"\x00" + row.tobytes() for row in index)
    grey_alpha = b"".join(b"\x00" + np.stack([row, np.full_like(row, 9)], 1).tobytes() for row in grey)
    return {
        "grey8": encode(".png", grey),
        "grey16": encode(".png", wide),
        "rgb8": encode(".png", rgb),
        "rgb16": encode(".png", np.repeat(wide[..., None], 3, axis=2)),
        "rgba8": encode(".png", np.concatenate([rgb, alpha], axis=2)),
        "rgba16": encode(".png", np.concatenate([rgb, alpha], axis=2).astype(np.uint16) * 257),
        "grey-alpha8": png_bytes(width, height, 8, 4, grey_alpha),
        "palette": png_bytes(width, height, 8, 3, rows, plte),
        "palette-trns": png_bytes(width, height, 8, 3, rows, plte + chunk(b"tRNS", b"\x00\x80")),
        "bmp": encode(".bmp", rgb),
        "bmp-grey": encode(".bmp", grey),
        "ppm": encode(".ppm", rgb),
        "ppm16": encode(".ppm", np.repeat(wide[..., None], 3, axis=2)),
        "pgm": encode(".pgm", grey),
        "pgm16": encode(".pgm", wide),
        "jpeg-lossless-range": encode(".jpg", np.zeros_like(grey)),  # only zeros survive JPEG exactly
    }


def test_read_image_converts_every_layout_the_same_way(tmp_path: Path) -> None:
    grey = np.array([[0, 1, 128, 254, 255], [37, 200, 3, 99, 255]], np.uint8)
    expected = np.repeat(grey[..., None], 3, axis=2).astype(np.float32) / np.float32(255)
    path = tmp_path / "im"
    for name, content in layouts(grey).items():
        path.write_bytes(content)
        image = read_image(path)
        assert image.dtype == np.float32 and image.shape == (2, 5, 3) and image.flags.c_contiguous, name
        want = np.zeros_like(expected) if name.startswith("jpeg") else expected
        np.testing.assert_array_equal(image, want, err_msg=name)  # bit-exact: 8- and 16-bit agree


def test_bmp_top_down_rows_read_in_order(tmp_path: Path) -> None:
    rgb = picture(3, 4, 3, np.uint8, seed=11)
    data = bytearray(encode(".bmp", rgb[..., ::-1]))
    assert struct.unpack("<i", data[22:26])[0] == 3  # bottom-up, as written
    offset, stride = struct.unpack("<I", data[10:14])[0], 12
    rows = [data[offset + r * stride : offset + (r + 1) * stride] for r in range(3)]
    data[offset : offset + 3 * stride] = b"".join(rows[::-1])
    data[22:26] = struct.pack("<i", -3)  # the same picture stored top-down
    path = tmp_path / "top-down.bmp"
    path.write_bytes(bytes(data))
    np.testing.assert_array_equal(read_image(path), rgb / np.float32(255))


def test_png_readers_match_pillow(tmp_path: Path) -> None:
    # Equivalence with an independent PNG decoder on every PNG layout, and on a KITTI disparity.
    if PILImage is None:
        pytest.skip("Pillow is not installed")
    path = tmp_path / "x.png"
    for name, content in layouts(picture(4, 6, 1, np.uint8, seed=12)).items():
        if content.startswith(PNG_SIGNATURE):
            path.write_bytes(content)
            np.testing.assert_allclose(read_image(path), pillow_rgb(content), rtol=0, atol=1e-7, err_msg=name)
    value = picture(5, 7, 1, np.uint16, seed=13)
    path.write_bytes(encode(".png", value))
    with PILImage.open(path) as image:
        theirs = np.asarray(image).astype(np.float64)
    disparity, valid = read_kitti_disparity(path)
    np.testing.assert_array_equal(disparity, theirs / 256)
    np.testing.assert_array_equal(valid, theirs > 0)


def test_truncations_of_every_layout_are_refused_or_exact(tmp_path: Path) -> None:
    # Deterministic companion to the fuzz: every cut of every layout's file either fails or, for cuts
    # past the image data (e.g. inside IEND), reads exactly as the whole file.
    grey = picture(3, 4, 1, np.uint8, seed=14)
    path = tmp_path / "cut"
    for name, content in layouts(grey).items():
        path.write_bytes(content)
        whole = read_image(path)
        for cut in range(len(content)):
            path.write_bytes(content[:cut])
            result = outcome(read_image, check_image, path, content[:cut], f"{name} cut at {cut}")
            assert result is None or same(whole, result), f"{name} cut at {cut} read differently"
