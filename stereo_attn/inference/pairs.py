"""Finding the stereo pairs to run on: two files, two folders or globs matched by name, or a list file,
and checking that every image decodes, left and right alike in size and large enough.

Errors are ``InputError`` (a ``ValueError``) or ``FileNotFoundError`` with one line naming the file.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stereo_attn.data.io import read_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp")
GLOB_CHARACTERS = "*?["
# Smaller inputs are mostly padding: the network's 1/16 stage then has at least 2 x 2 cells.
MIN_IMAGE_SIDE = 32


class InputError(ValueError):
    """The pairs, options or files asked for cannot be used; the message names the culprit."""


@dataclass(frozen=True)
class Pair:
    left: Path
    right: Path


def _is_glob(spec: str) -> bool:
    return any(character in spec for character in GLOB_CHARACTERS)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob pattern with one group per wildcard: what each ``*``, ``**``, ``?`` or
    ``[...]`` matched in a file's path is the key that pairs it with the other side's file."""
    parts, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            parts.append("(.*)")
            index += 2
        elif pattern[index] == "*":
            parts.append("([^/]*)")
            index += 1
        elif pattern[index] == "?":
            parts.append("([^/])")
            index += 1
        elif pattern[index] == "[" and "]" in pattern[index + 2 :]:
            end = pattern.index("]", index + 2)
            body = pattern[index + 1 : end].replace("\\", "\\\\")
            if body.startswith("!"):  # glob's negation is regex's ^, and a leading ^ is literal in globs
                body = "^" + body[1:]
            elif body.startswith("^"):
                body = "\\" + body
            parts.append(f"([{body}])")
            index = end + 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts) + r"\Z")


def expand_images(spec: str, side: str) -> dict[tuple[str, ...], Path]:
    """The image files (png/jpg/jpeg/ppm/bmp) of a folder, keyed by file name, or those a glob matches,
    keyed by what its wildcards matched."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{side}={spec}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return {(file.name,): file for file in files}
    if _is_glob(spec):
        regex = _glob_regex(spec)
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            raise InputError(f"{side}={spec}: the glob matches no files")
        keyed: dict[tuple[str, ...], Path] = {}
        for file in files:
            match = regex.match(str(file))
            key = match.groups() if match else (str(file),)
            if key in keyed:
                raise InputError(f"{side}={spec}: {keyed[key]} and {file} match its wildcards alike")
            keyed[key] = file
        return keyed
    if path.is_file():
        raise InputError(f"{side}={spec}: a single file, but the other side is a folder or glob")
    raise FileNotFoundError(f"{side}={spec}: no such folder")


def match_pairs(lefts: dict[tuple[str, ...], Path], rights: dict[tuple[str, ...], Path]) -> list[Pair]:
    """Pair each left image with the right image of the same key (file name, or wildcard matches)."""
    pairs = []
    for key, left in lefts.items():
        if key not in rights:
            matched = "/".join(key)
            raise InputError(f"{left}: no right image matches it (by {matched!r})")
        pairs.append(Pair(left, rights[key]))
    return pairs


def read_pair_list(path: str | Path) -> list[Pair]:
    """``left right`` per line (shell quoting for spaces), relative to the list's folder; # comments."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"list={path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"list={path}: cannot read it ({error})") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        try:
            fields = shlex.split(line, comments=True)
        except ValueError as error:
            raise InputError(f"{path}:{number}: {error}") from None
        if not fields:
            continue
        if len(fields) != 2:
            raise InputError(f"{path}:{number}: expected 'left_path right_path', got {line.strip()!r}")
        left, right = (Path(field) if Path(field).is_absolute() else path.parent / field for field in fields)
        pairs.append(Pair(left, right))
    if not pairs:
        raise InputError(f"list={path}: lists no pairs")
    return pairs


def find_pairs(left: str | None = None, right: str | None = None, pair_list: str | None = None) -> list[Pair]:
    """Pairs from exactly one of: a left and a right file, two folders/globs matched by file name, a list."""
    if pair_list is not None:
        if left is not None or right is not None:
            raise InputError("give either list= or left= and right=, not both")
        pairs = read_pair_list(pair_list)
    elif left is None or right is None:
        missing = "left" if left is None else "right"
        raise InputError(f"{missing}= is missing: give left= and right= (files, folders or globs), or list=")
    elif Path(left).is_file() and Path(right).is_file():
        pairs = [Pair(Path(left), Path(right))]
    elif Path(left).is_dir() != Path(right).is_dir() and not (_is_glob(left) and _is_glob(right)):
        raise InputError(f"left={left} and right={right}: give two files, two folders or two globs")
    elif _is_glob(left) and _glob_regex(left).groups != _glob_regex(right).groups:
        raise InputError(f"left={left} and right={right} differ in their wildcards: pairs match by them")
    elif Path(left).is_dir() or _is_glob(left):
        pairs = match_pairs(expand_images(left, "left"), expand_images(right, "right"))
    else:
        side, spec = ("left", left) if not Path(left).is_file() else ("right", right)
        raise FileNotFoundError(f"{side}={spec}: no such file")
    output_stems(pairs)  # the same left image twice is an error now, not after the checkpoint loads
    return pairs


def output_stems(pairs: Sequence[Pair]) -> list[str]:
    """What each pair's outputs are named after: the left image's stem, or, where stems repeat (e.g.
    ``scenes/*/im0.png``), its path below the left images' common folder with ``_`` for separators."""
    stems = [pair.left.stem for pair in pairs]
    if len(set(stems)) == len(stems):
        return stems
    lefts = [os.path.abspath(pair.left) for pair in pairs]
    common = os.path.commonpath([os.path.dirname(left) for left in lefts])
    stems = [str(Path(os.path.relpath(left, common)).with_suffix("")).replace(os.sep, "_") for left in lefts]
    seen: dict[str, Path] = {}
    for stem, pair in zip(stems, pairs, strict=True):
        if stem in seen:
            raise InputError(f"{pair.left} is given twice (as {seen[stem]}): its outputs would collide")
        seen[stem] = pair.left
    return stems


def load_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float32 RGB (H, W, 3) in [0, 1]; an error naming both files if their sizes differ
    or are below ``MIN_IMAGE_SIDE``."""
    left, right = read_image(pair.left), read_image(pair.right)
    (lh, lw), (rh, rw) = left.shape[:2], right.shape[:2]
    if left.shape != right.shape:
        raise InputError(f"{pair.left} ({lw}x{lh}) and {pair.right} ({rw}x{rh}) differ in size")
    if min(lh, lw) < MIN_IMAGE_SIDE:
        raise InputError(f"{pair.left}: {lw}x{lh} is too small, expected at least {MIN_IMAGE_SIDE} px a side")
    return left, right


def check_pairs(pairs: Sequence[Pair]) -> list[tuple[int, int]]:
    """Decode every image once (so a bad file fails before any output); returns each pair's (H, W)."""
    return [load_pair(pair)[0].shape[:2] for pair in pairs]
