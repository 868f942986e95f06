"""Readers and writers for the files stereo datasets ship: PFM, KITTI 16-bit PNG, images and masks.

Readers return arrays in the conventions of ``sample.py`` (images float32 RGB in [0, 1], disparity
float32 in pixels) or raise one-line errors that name the file: ``FileNotFoundError`` for a missing file
(other ``OSError``s for one that cannot be opened, e.g. a folder), ``DataFormatError`` for a file that
is there but is not what the reader expects. Nothing else escapes a parse (tests/test_fuzz_readers.py
feeds the readers thousands of mutated files), so a data loader can catch these and name the bad file.

Sizes are checked against ``MAX_IMAGE_PIXELS`` from the file's header, before anything is decoded: a
100-byte PNG may declare 100000 x 100000 pixels, and a few megabytes of zlib can really inflate to that.
What cannot be caught is damage that leaves a file well formed: a flipped bit in PFM samples, or in JPEG
data (which has no checksum; libjpeg only warns), reads as a slightly different image.

Writers go through a temporary file in the target folder and ``os.replace``, so a crash or a reader
running at the same time never sees half a file.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "MAX_IMAGE_PIXELS",
    "DataFormatError",
    "read_disparity",
    "read_image",
    "read_kitti_disparity",
    "read_mask",
    "read_pfm",
    "write_image",
    "write_kitti_disparity",
    "write_pfm",
]


# The most pixels a reader accepts, from the header, before decoding. The largest benchmark images are
# ETH3D's high-res 6048 x 4032 (24 MP) and Middlebury 2014's 2964 x 2000; 2**26 (67 MP, e.g. 8192 x 8192)
# leaves room above those while capping one read at ~1.3 GB for a 16-bit RGBA image (the decode plus the
# float32 copy) and ~1.6 GB for a colour PFM (the file's bytes plus the flipped copy).
# Module-level so that a caller with bigger images can raise it: ``io.MAX_IMAGE_PIXELS = ...``.
MAX_IMAGE_PIXELS = 1 << 26


class DataFormatError(ValueError):
    """A file exists but is not what its reader expects; the message starts with the path."""


def _format_error(path: str | Path, problem: str, expected: str) -> DataFormatError:
    return DataFormatError(f"{path}: {problem}, expected {expected}")


def _check_dimensions(path: str | Path, width: int, height: int, expected: str) -> None:
    """Refuse a declared size that is empty or over ``MAX_IMAGE_PIXELS``, before allocating for it."""
    if width <= 0 or height <= 0:
        raise _format_error(path, f"the header declares {width}x{height} pixels", f"{expected} of size > 0")
    if width * height > MAX_IMAGE_PIXELS:  # Python integers: no overflow, whatever the header says
        raise _format_error(
            path,
            f"the header declares {width}x{height} = {width * height} pixels",
            f"at most MAX_IMAGE_PIXELS = {MAX_IMAGE_PIXELS}",
        )


def _quoted(token: bytes) -> str:
    """A header token for an error message: short, one line, never a decoding error."""
    return ascii(token[:20].decode("ascii", "replace"))


# ---------------------------------------------------------------------------------------------------------
# PFM
# ---------------------------------------------------------------------------------------------------------

# Netpbm's description: three header "lines", each followed by one white space character (usually a newline,
# but it need not be). We also accept runs of whitespace (CRLF files, padded numbers); comments are not part
# of PFM (OpenCV rejects them too), so a '#' is an error rather than something to skip.
_WHITESPACE = b" \t\n\r\x0b\x0c"
_TOKEN = re.compile(rb"[ \t\n\r\x0b\x0c]+([^ \t\n\r\x0b\x0c]+)")
_HEADER_LIMIT = 256  # a real header is ~20 bytes; the bound keeps garbage from being scanned as a header
_UNSIGNED = re.compile(rb"[0-9]{1,10}")
_DECIMAL = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# What may separate the scale from the raster: one whitespace byte (the format), or a line break after
# optional padding (CRLF files, "%f \n" writers). Not an arbitrary run: the raster is located by its size
# from the end of the file, so if any run were allowed, bytes appended to a file whose first samples
# happen to start with whitespace bytes would shift the raster and be read as a wrong image.
_PFM_SEPARATOR = re.compile(rb"[ \t\n\r\x0b\x0c]|[ \t]*\r?\n")
_PFM_LAYOUT = "a header 'PF' or 'Pf', 'width height', 'scale', each followed by whitespace"


def _pfm_token(buf: bytes, pos: int, path: str | Path, what: str) -> tuple[bytes, int]:
    """The whitespace-separated token starting after ``pos`` and the offset just past it."""
    match = _TOKEN.match(buf, pos, min(len(buf), _HEADER_LIMIT))
    if match is None:
        if pos < len(buf) and buf[pos] not in _WHITESPACE:
            raise _format_error(path, f"no whitespace before the {what} at byte {pos}", _PFM_LAYOUT)
        raise _format_error(path, f"the header ends before the {what}", _PFM_LAYOUT)
    if match.end() >= _HEADER_LIMIT:
        raise _format_error(path, f"no {what} in the first {_HEADER_LIMIT} bytes", _PFM_LAYOUT)
    return match.group(1), match.end()


def _pfm_size(token: bytes, path: str | Path, what: str) -> int:
    value = int(token) if _UNSIGNED.fullmatch(token) else 0
    if value <= 0:
        raise _format_error(path, f"{what} {_quoted(token)}", "a positive decimal integer")
    return value


def read_pfm(path: str | Path) -> np.ndarray:
    """Read a PFM file: float32 (H, W) for 'Pf', (H, W, 3) RGB for 'PF', top row first.

    The sign of the scale gives the byte order (negative = little-endian); its magnitude is a unit
    that Netpbm says to apply "somehow" and that Middlebury and Scene Flow leave at 1, so the samples
    are returned as stored. (OpenCV divides them by it.)
    """
    buf = Path(path).read_bytes()
    if not buf:
        raise _format_error(path, "the file is empty", "a PFM file")
    if buf[:2] not in (b"PF", b"Pf"):
        raise _format_error(path, f"magic {_quoted(buf[:2])}", "'PF' (colour) or 'Pf' (grey) PFM")
    channels = 3 if buf[:2] == b"PF" else 1
    width_token, pos = _pfm_token(buf, 2, path, "width")
    height_token, pos = _pfm_token(buf, pos, path, "height")
    scale_token, pos = _pfm_token(buf, pos, path, "scale")
    width = _pfm_size(width_token, path, "width")
    height = _pfm_size(height_token, path, "height")
    _check_dimensions(path, width, height, "a PFM image")
    scale = float(scale_token) if _DECIMAL.fullmatch(scale_token) else math.nan
    if not math.isfinite(scale) or scale == 0:
        raise _format_error(path, f"scale {_quoted(scale_token)}", "a finite non-zero decimal number")

    # The raster is the last ``expected`` bytes (so a truncated or padded file fails here rather than
    # being read shifted); what lies between the scale and the raster must be a separator.
    expected = width * height * channels * 4
    gap = len(buf) - pos - expected
    if not 1 <= gap <= _HEADER_LIMIT or not _PFM_SEPARATOR.fullmatch(buf, pos, pos + gap):
        found = max(len(buf) - pos - 1, 0)
        raise _format_error(
            path,
            f"{found} bytes of pixel data after the header",
            f"{expected} for {width}x{height}x{channels} float32",
        )
    dtype = np.dtype("<f4" if scale < 0 else ">f4")
    raster = np.frombuffer(buf, dtype, count=expected // 4, offset=len(buf) - expected)
    shape = (height, width, 3) if channels == 3 else (height, width)
    # PFM stores the bottom row first; flip to the top-row-first convention of every other image.
    return np.ascontiguousarray(raster.reshape(shape)[::-1], dtype=np.float32)


def write_pfm(path: str | Path, array: np.ndarray, little_endian: bool = True) -> None:
    """Write a (H, W) array as 'Pf' or a (H, W, 3) RGB array as 'PF', float32, atomically."""
    data = np.asarray(array)
    if data.ndim == 2:
        magic = "Pf"
    elif data.ndim == 3 and data.shape[2] == 3:
        magic = "PF"
    else:
        raise ValueError(f"{path}: cannot write shape {data.shape} as PFM, expected (H, W) or (H, W, 3)")
    if data.size == 0:
        raise ValueError(f"{path}: cannot write an empty array {data.shape} as PFM, expected H, W > 0")
    if data.dtype == bool or not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise ValueError(f"{path}: cannot write dtype {data.dtype} as PFM, expected real numbers")
    height, width = data.shape[:2]
    header = f"{magic}\n{width} {height}\n{-1.0 if little_endian else 1.0}\n".encode("ascii")
    raster = np.ascontiguousarray(data[::-1], dtype="<f4" if little_endian else ">f4")
    atomic_write(path, header, raster.tobytes())


# ---------------------------------------------------------------------------------------------------------
# PNG (and the other formats OpenCV decodes, for images)
# ---------------------------------------------------------------------------------------------------------


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Formats are told apart by their first bytes, never by the file name (OpenCV does the same). The ones
# not decoded are named only so that refusing them says what the file is.
_SIGNATURES = (
    ("PNG", (_PNG_SIGNATURE,)),
    ("JPEG", (b"\xff\xd8",)),
    ("BMP", (b"BM",)),
    ("PNM", (b"P4", b"P5", b"P6")),
    # OpenCV reads ASCII samples leniently: 300 under maxval 255 becomes 255, a '2' in a bitmap a 1.
    ("ASCII PNM (P1-P3)", (b"P1", b"P2", b"P3")),
    ("float32 PFM", (b"PF", b"Pf")),
    ("TIFF", (b"II*\x00", b"MM\x00*")),
    ("GIF", (b"GIF8",)),
    ("RIFF (WebP?)", (b"RIFF",)),
)
# What the image readers decode: the suffixes ``inference.IMAGE_SUFFIXES`` lists. Every one of them has
# a size parser below, which is what lets the pixel limit be applied before OpenCV allocates anything.
_IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "PNM")


def _sniff(buf: bytes) -> str | None:
    for name, prefixes in _SIGNATURES:
        if buf.startswith(prefixes):
            return name
    return None


def _check_png_chunks(buf: bytes, path: str | Path) -> None:
    """Refuse a PNG whose chunk lengths point past the end of the file.

    OpenCV 5.0 allocates (and zeroes) a chunk's declared length before noticing the file is shorter:
    an 82-byte file whose IDAT length was corrupted to ~4e9 took 4 GB and 2 s to fail, and on a smaller
    machine it would be killed for memory rather than raise. Walking the chunk headers costs microseconds.
    """
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(buf):
        length = int.from_bytes(buf[pos : pos + 4], "big")
        kind = buf[pos + 4 : pos + 8]
        if length > len(buf) - pos - 8:  # the data itself runs past the end (a missing CRC is OpenCV's call)
            raise _format_error(
                path,
                f"chunk {_quoted(kind)} at byte {pos} claims {length} bytes but the file ends before",
                "a complete PNG",
            )
        if kind == b"IEND":
            return  # whatever follows IEND is not PNG data; decoders ignore it
        pos += length + 12


def _png_size(buf: bytes, path: str | Path) -> tuple[int, int]:
    # IHDR must be the first chunk, 13 bytes long, width and height first (big-endian).
    if buf[8:16] != b"\x00\x00\x00\x0dIHDR" or len(buf) < 33:
        raise _format_error(path, "no IHDR chunk after the PNG signature", "a PNG that starts with IHDR")
    _check_png_chunks(buf, path)
    return int.from_bytes(buf[16:20], "big"), int.from_bytes(buf[20:24], "big")


# JPEG frame headers (SOF0-3, 5-7, 9-11, 13-15: every coding process) and markers without a length.
_JPEG_FRAME = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_LAYOUT = "a JPEG whose segments lead to a frame header"


def _jpeg_size(buf: bytes, path: str | Path) -> tuple[int, int]:
    """Width and height from the first frame header, the one libjpeg decodes (a second is an error).

    The walk is strict where libjpeg is lenient (it skips stray bytes between segments with a warning):
    refusing such a file is what guarantees the size checked here is the size libjpeg will allocate.
    """
    pos = 2
    while True:
        if pos >= len(buf) or buf[pos] != 0xFF:
            raise _format_error(path, f"no marker at byte {pos} before the frame header", _JPEG_LAYOUT)
        while pos < len(buf) and buf[pos] == 0xFF:  # a marker may be preceded by any number of fill bytes
            pos += 1
        marker = buf[pos] if pos < len(buf) else None
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        length = int.from_bytes(buf[pos : pos + 2], "big") if pos + 2 <= len(buf) else 0
        if marker is None or marker in (0x00, 0xD8, 0xD9, 0xDA) or length < 2 or pos + length > len(buf):
            what = "the end of the file" if marker is None else f"marker 0x{marker:02X} at byte {pos - 1}"
            raise _format_error(path, f"{what} before the frame header", _JPEG_LAYOUT)
        if marker in _JPEG_FRAME:
            if length < 8 or buf[pos + 2] != 8:
                # OpenCV reads 8-bit JPEG only; saying so beats its generic failure.
                found = f"{buf[pos + 2]}-bit samples" if length >= 8 else "a short frame header"
                raise _format_error(path, found, "an 8-bit JPEG")
            height, width = buf[pos + 3 : pos + 5], buf[pos + 5 : pos + 7]
            return int.from_bytes(width, "big"), int.from_bytes(height, "big")
        pos += length


# Bits per pixel decoded exactly. OpenCV expands 16-bit BMP's 5-bit channels by shifting (31 -> 248,
# not 255), so a white 16-bit BMP would read as 0.97: refused rather than read slightly wrong.
_BMP_BITS = (1, 4, 8, 24, 32)


def _bmp_size(buf: bytes, path: str | Path) -> tuple[int, int]:
    """Width and height from the info header, which follows the 14-byte file header.

    Also refuses headers that OpenCV would misread rather than reject: it reads the palette from
    wherever the headers end and the pixels from wherever the file header's offset points, so an
    offset into the headers or palette would return header or palette bytes as an image.
    """
    info_size = int.from_bytes(buf[14:18], "little") if len(buf) >= 18 else 0
    if info_size != 12 and info_size < 40:
        raise _format_error(
            path, f"BMP info header of {info_size} bytes", "12 (OS/2) or at least 40 (Windows)"
        )
    if len(buf) < 14 + info_size:
        raise _format_error(path, "the file ends inside the BMP info header", "a complete BMP")
    if info_size == 12:  # OS/2: unsigned 16-bit sizes, a full palette of 3-byte entries
        width, height, bits = (int.from_bytes(buf[i : i + 2], "little") for i in (18, 20, 24))
        colours, entry, masks = 0, 3, 0
    else:  # Windows: signed 32-bit sizes (a negative height: rows stored top-down), 4-byte entries
        width = int.from_bytes(buf[18:22], "little", signed=True)
        height = abs(int.from_bytes(buf[22:26], "little", signed=True))
        bits = int.from_bytes(buf[28:30], "little")
        colours, entry = int.from_bytes(buf[46:50], "little"), 4
        bitfields = int.from_bytes(buf[30:34], "little") == 3
        masks = 12 if bitfields and info_size == 40 else 0  # the three masks follow a 40-byte header
    if bits not in _BMP_BITS:
        raise _format_error(path, f"a {bits}-bit BMP", f"{', '.join(map(str, _BMP_BITS))} bits per pixel")
    if bits <= 8:
        if colours > 1 << bits:
            raise _format_error(path, f"{colours} palette colours", f"at most {1 << bits} for {bits}-bit")
        colours = colours or 1 << bits
    pixels = 14 + info_size + masks + colours * entry
    offset = int.from_bytes(buf[10:14], "little")
    if not pixels <= offset < len(buf):
        raise _format_error(
            path,
            f"BMP pixel data at byte {offset}",
            f"an offset in {pixels}..{len(buf) - 1}, after the palette",
        )
    return width, height


# Netpbm header numbers are separated by whitespace and '#' comments (to the end of the line).
_PNM_NUMBER = re.compile(rb"(?:[ \t\n\r\x0b\x0c]|#[^\r\n]*[\r\n])+([0-9]{1,10})")
_PNM_HEADER_LIMIT = 4096  # room for comment lines (GIMP and ImageMagick write one)
# OpenCV returns binary PNM samples unscaled: under another maxval they would come back as an image
# whose full scale the caller cannot know (a 15-level PGM as nearly black), so other maxvals are refused.
_PNM_MAXVALS = (255, 65535)


def _pnm_size(buf: bytes, path: str | Path) -> tuple[int, int]:
    layout = "a Netpbm header 'P4'..'P6', width, height (and maxval), separated by whitespace"
    numbers = []
    pos = 2
    for _ in range(2 if buf[1:2] == b"4" else 3):  # a bitmap (P4) has no maxval
        match = _PNM_NUMBER.match(buf, pos, min(len(buf), _PNM_HEADER_LIMIT))
        if match is None:
            raise _format_error(path, f"no header number at byte {pos}", layout)
        numbers.append(int(match.group(1)))
        pos = match.end()
    if len(numbers) == 3 and numbers[2] not in _PNM_MAXVALS:
        raise _format_error(path, f"maxval {numbers[2]}", "255 (8-bit) or 65535 (16-bit)")
    return numbers[0], numbers[1]


_SIZE_READERS: dict[str, Callable[[bytes, str | Path], tuple[int, int]]] = {
    "PNG": _png_size,
    "JPEG": _jpeg_size,
    "BMP": _bmp_size,
    "PNM": _pnm_size,
}


_JPEG_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def _decode(
    path: str | Path,
    expected: str,
    formats: tuple[str, ...] = _IMAGE_FORMATS,
    jpeg_reduction: Callable[[int, int], int] | None = None,
) -> np.ndarray:
    """Decode an image file with OpenCV, unchanged (bit depth, channels and alpha as stored).

    Only ``formats`` are decoded, and only after their header's size passed ``_check_dimensions``.
    ``jpeg_reduction(width, height)`` may ask for a JPEG at 1/2, 1/4 or 1/8 of its size, scaled while
    decoding (libjpeg's DCT scaling: several times faster than decoding whole and resizing); 8-bit BGR.
    """
    # Reading the bytes ourselves (rather than cv2.imread) separates "missing" (FileNotFoundError from
    # Python, naming the path) from "undecodable", and works for non-ASCII paths on every platform.
    buf = Path(path).read_bytes()
    if not buf:
        raise _format_error(path, "the file is empty", expected)
    kind = _sniff(buf)
    if kind not in formats:
        found = f"a {kind} file" if kind else f"an unrecognised file starting {_quoted(buf[:8])}"
        raise _format_error(path, found, expected)
    width, height = _SIZE_READERS[kind](buf, path)
    _check_dimensions(path, width, height, expected)
    flags = cv2.IMREAD_UNCHANGED
    reduction = jpeg_reduction(width, height) if jpeg_reduction is not None and kind == "JPEG" else 1
    if reduction != 1:
        flags = _JPEG_REDUCED[reduction]
        width, height = -(-width // reduction), -(-height // reduction)  # libjpeg rounds up
    try:
        image = cv2.imdecode(np.frombuffer(buf, np.uint8), flags)
    except cv2.error:  # some decoders raise instead of returning None
        image = None
    if image is None:
        raise _format_error(path, "OpenCV cannot decode the file", expected)
    if image.shape[:2] != (height, width):  # the limit was checked on the header's size, so it must hold
        found = f"{image.shape[1]}x{image.shape[0]} pixels decoded from a header declaring {width}x{height}"
        raise _format_error(path, found, expected)
    return image


def _describe(image: np.ndarray) -> str:
    channels = 1 if image.ndim == 2 else image.shape[2]
    return f"a {image.dtype} image with {channels} channel{'s' if channels != 1 else ''}"


def _encode_png(path: str | Path, image: np.ndarray) -> None:
    if Path(path).suffix.lower() != ".png":
        # PNG bytes under another extension would mislead every tool that trusts the name.
        raise ValueError(f"{path}: writes PNG, expected a file name ending in .png")
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode {_describe(image)} as PNG")
    atomic_write(path, encoded.tobytes())


def read_kitti_disparity(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI disparity PNG: (disparity float32 = value / 256, valid bool = value > 0).

    Only a 16-bit grey PNG is accepted: an 8-bit or colour one is some other map saved by mistake,
    and dividing its values by 256 would give a plausible-looking wrong disparity.
    """
    expected = "a 16-bit single-channel PNG (KITTI disparity)"
    value = _decode(path, expected, ("PNG",))
    if value.dtype != np.uint16 or value.ndim != 2:
        raise _format_error(path, _describe(value), expected)
    return value.astype(np.float32) / np.float32(256.0), value > 0


def write_kitti_disparity(path: str | Path, disparity: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write disparity as KITTI does: uint16 round(d * 256), 0 = invalid, atomically.

    Valid pixels are clipped to [1, 65535] so that a tiny or negative prediction stays valid (KITTI
    submissions must cover every pixel); pixels not in ``valid`` or not finite are written as 0.
    """
    disparity = np.asarray(disparity, dtype=np.float64)
    if disparity.ndim != 2:
        raise ValueError(f"{path}: disparity has shape {disparity.shape}, expected (H, W)")
    keep = np.isfinite(disparity)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != disparity.shape:
            raise ValueError(f"{path}: valid has shape {valid.shape}, expected {disparity.shape}")
        keep &= valid
    # Clip before scaling so huge finite values cannot overflow; 256 px * 256 = 65536 is clipped below.
    scaled = np.clip(np.rint(np.clip(np.where(keep, disparity, 0.0), 0.0, 256.0) * 256.0), 1, 65535)
    _encode_png(path, np.where(keep, scaled, 0).astype(np.uint16))


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG, JPEG, BMP or PNM image as float32 (H, W, 3) RGB in [0, 1].

    Every layout converts the same way, so that a dataset mixing them gives one kind of array: samples
    are divided by the full scale of their bit depth (8-bit / 255, 16-bit / 65535; lower PNG depths and
    palettes are expanded to 8 bits first), so 1.0 is white at any depth; grey is copied to all three
    channels; alpha is dropped, not composited (a stereo pair has no background to composite onto).
    """
    expected = "an 8- or 16-bit PNG, JPEG, BMP or PNM image (grey, grey+alpha, RGB or RGBA)"
    image = _decode(path, expected)
    full_scale = _FULL_SCALE.get(image.dtype)
    if full_scale is None:
        raise _format_error(path, _describe(image), expected)
    if image.ndim == 3 and image.shape[2] in (1, 2):  # grey or grey+alpha
        image = image[..., 0]
    if image.ndim == 2:
        source = image[..., None]  # broadcast to the three channels by the copy below
    elif image.shape[2] in (3, 4):
        source = image[..., 2::-1]  # BGR(A) -> RGB, alpha dropped
    else:
        raise _format_error(path, _describe(image), expected)
    # One float32 array, filled and scaled in place: the decode plus this copy is the peak memory.
    rgb = np.empty((*image.shape[:2], 3), np.float32)
    rgb[...] = source
    rgb /= np.float32(full_scale)
    return rgb


_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def read_photo(path: str | Path, max_side: int) -> np.ndarray:
    """A PNG or JPEG photo as 8-bit (H, W, 3) RGB, its longer side at most ``max_side`` (area-resized).

    Large JPEGs are decoded directly at the largest 1/2, 1/4 or 1/8 scale that keeps ``max_side``: a
    4K wallpaper decodes several times faster. Other depths and layouts go through ``read_image``.
    """
    expected = "a PNG or JPEG photo"

    def reduction(width: int, height: int) -> int:
        return max((r for r in (8, 4, 2) if max(width, height) / r >= max_side), default=1)

    image = _decode(path, expected, ("PNG", "JPEG"), jpeg_reduction=reduction)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        image = np.rint(read_image(path) * 255).astype(np.uint8)[..., ::-1]  # back to BGR, like imdecode
    rgb = np.ascontiguousarray(image[..., 2::-1])
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale < 1:  # downsize only: upsizing would add no detail, only blur
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return rgb


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    """Write (H, W, 3) RGB or (H, W) grey as an 8-bit PNG, atomically.

    Floats are taken as [0, 1]: scaled by 255, rounded, clipped (NaN -> 0); uint8 is written as is.
    """
    data = np.asarray(rgb)
    if not (data.ndim == 2 or (data.ndim == 3 and data.shape[2] == 3)):
        raise ValueError(f"{path}: image has shape {data.shape}, expected (H, W, 3) RGB or (H, W) grey")
    if np.issubdtype(data.dtype, np.floating):
        data = np.clip(np.rint(np.nan_to_num(data.astype(np.float64), nan=0.0) * 255.0), 0, 255)
        data = data.astype(np.uint8)
    elif data.dtype != np.uint8:
        raise ValueError(f"{path}: image has dtype {data.dtype}, expected float in [0, 1] or uint8")
    _encode_png(path, data[..., ::-1] if data.ndim == 3 else data)  # OpenCV writes BGR


def read_mask(path: str | Path) -> np.ndarray:
    """Read an 8-bit single-channel mask, values as stored (mask0nocc.png: 255 = non-occluded)."""
    expected = "an 8-bit single-channel mask (PNG, JPEG, BMP or PNM)"
    mask = _decode(path, expected)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise _format_error(path, _describe(mask), expected)
    return np.ascontiguousarray(mask)


def read_disparity(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ground-truth disparity by extension: (disparity float32 (H, W), valid bool (H, W)).

    ``.pfm``: valid where finite (Middlebury marks unknown pixels with inf); a colour PFM gives its
    first channel. ``.png``: KITTI encoding, valid where the stored value is > 0.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".pfm":
        disparity = read_pfm(path)
        if disparity.ndim == 3:
            disparity = np.ascontiguousarray(disparity[..., 0])
        return disparity, np.isfinite(disparity)
    if suffix == ".png":
        return read_kitti_disparity(path)
    Path(path).stat()  # a missing file is FileNotFoundError, whatever its name
    raise _format_error(path, f"unknown extension {suffix!r}", "a disparity map in .pfm or .png")


# ---------------------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------------------


def atomic_write(path: str | Path, *chunks: bytes) -> None:
    """Write ``chunks`` to a temporary file next to ``path`` and rename it over ``path``."""
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{target}: the folder {target.parent} does not exist")
    # Same folder, so os.replace is a rename within one file system (atomic). O_EXCL never clobbers
    # another writer's temporary file; mode 0o666 lets the umask decide permissions, as open() does.
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
            os.fsync(stream.fileno())  # the data reaches the disk before the name points at it
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
