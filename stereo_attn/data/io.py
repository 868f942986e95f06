"""Readers and writers for the files stereo datasets ship: PFM, KITTI 16-bit PNG, images and masks.

Readers return arrays in the conventions of ``sample.py`` (images float32 RGB in [0, 1], disparity
float32 in pixels) or raise: ``FileNotFoundError`` for a missing file, ``DataFormatError`` for a file
that is there but is not what the reader expects. Nothing else escapes a parse, so a data loader can
catch one exception type and name the bad file.

Writers go through a temporary file in the target folder and ``os.replace``, so a crash or a reader
running at the same time never sees half a file.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
from pathlib import Path

import cv2
import numpy as np

__all__ = [
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


class DataFormatError(ValueError):
    """A file exists but is not what its reader expects; the message starts with the path."""


def _format_error(path: str | Path, problem: str, expected: str) -> DataFormatError:
    return DataFormatError(f"{path}: {problem}, expected {expected}")


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
    scale = float(scale_token) if _DECIMAL.fullmatch(scale_token) else math.nan
    if not math.isfinite(scale) or scale == 0:
        raise _format_error(path, f"scale {_quoted(scale_token)}", "a finite non-zero decimal number")

    # Python integers cannot overflow, so a header claiming 1e9 x 1e9 pixels fails this comparison
    # before anything of that size is allocated. The raster is the last ``expected`` bytes; what lies
    # between the scale and the raster must be the separating whitespace (one byte per the format).
    expected = width * height * channels * 4
    gap = len(buf) - pos - expected
    if gap < 1 or gap > _HEADER_LIMIT or buf[pos : pos + gap].strip(_WHITESPACE):
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


def _decode(path: str | Path, expected: str) -> np.ndarray:
    """Decode an image file with OpenCV, unchanged (bit depth, channels and alpha as stored)."""
    # Reading the bytes ourselves (rather than cv2.imread) separates "missing" (FileNotFoundError from
    # Python, naming the path) from "undecodable", and works for non-ASCII paths on every platform.
    buf = Path(path).read_bytes()
    if not buf:
        raise _format_error(path, "the file is empty", expected)
    if buf.startswith(_PNG_SIGNATURE):
        _check_png_chunks(buf, path)
    try:
        image = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # some decoders raise instead of returning None (e.g. absurd sizes)
        image = None
    if image is None:
        raise _format_error(path, "OpenCV cannot decode the file", expected)
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
    """Read a KITTI disparity PNG: (disparity float32 = value / 256, valid bool = value > 0)."""
    expected = "a 16-bit single-channel PNG (KITTI disparity)"
    value = _decode(path, expected)
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
    """Read an image as float32 (H, W, 3) RGB in [0, 1]: 8-bit / 255, 16-bit / 65535.

    Grey is replicated to three channels, alpha is dropped, OpenCV's BGR is turned into RGB.
    """
    expected = "an 8- or 16-bit grey, grey+alpha, RGB or RGBA image"
    image = _decode(path, expected)
    if image.dtype == np.uint8:
        full_scale = 255.0
    elif image.dtype == np.uint16:
        full_scale = 65535.0
    else:
        raise _format_error(path, _describe(image), expected)
    if image.ndim == 3 and image.shape[2] in (1, 2):  # grey or grey+alpha
        image = image[..., 0]
    if image.ndim == 2:
        rgb = np.repeat(image[..., None], 3, axis=2)
    elif image.shape[2] in (3, 4):
        rgb = image[..., 2::-1]  # BGR(A) -> RGB, alpha dropped
    else:
        raise _format_error(path, _describe(image), expected)
    return rgb.astype(np.float32) / np.float32(full_scale)


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
    expected = "an 8-bit single-channel mask"
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
