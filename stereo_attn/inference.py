"""Running a trained checkpoint on image pairs: finding the pairs, checking them, predicting, writing.

Everything that can be wrong is checked before the first output is written: the options, the pairs
exist and match, the calibration has its fields, the checkpoint loads into its own architecture, every
image decodes with left and right of one size and at least ``MIN_IMAGE_SIDE`` pixels, the memory a
forward pass needs is there, and no output would replace an earlier one. Outputs are written into a
staging folder and moved into place only when every pair is done. Errors are ``ValueError``
subclasses or ``FileNotFoundError`` with one-line messages naming the file or option.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from stereo_attn import options
from stereo_attn.calibration import Calibration
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.data.io import read_image
from stereo_attn.model.memory import available_bytes, inference_bytes, largest_fitting
from stereo_attn.outputs import output_names, write_outputs
from stereo_attn.staging import Staging, reserve_folder, timestamp

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp")
GLOB_CHARACTERS = "*?["
# Smaller inputs are mostly padding: the network's 1/16 stage then has at least 2 x 2 cells.
MIN_IMAGE_SIDE = 32
DEFAULT_OUTPUT_PARENT = Path("outputs", "infer")
MAX_PLY_STRIDE = 2**16


class InputError(ValueError):
    """The pairs, options or files asked for cannot be used; the message names the culprit."""


class MemoryBudgetError(InputError):
    """A forward pass would need more memory than the device has."""


@dataclass(frozen=True)
class Pair:
    left: Path
    right: Path


# ---------------------------------------------------------------------------------------------------------
# Finding pairs
# ---------------------------------------------------------------------------------------------------------


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


def _is_glob(spec: str) -> bool:
    return any(character in spec for character in GLOB_CHARACTERS)


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


# ---------------------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------------------


def resolve_device(name: object = "auto") -> torch.device:
    """``auto`` (CUDA when there is one, else the CPU), ``cpu`` or ``cuda``."""
    options.choice(name, "device", ("auto", "cpu", "cuda"))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device=cuda: CUDA is not available on this machine; use device=cpu or auto")
    return torch.device(str(name))


def check_memory(
    network: nn.Module, sizes: Sequence[tuple[int, int]], batch_size: int, device: torch.device
) -> None:
    """Refuse, before any output, a size whose forward pass would not fit the device's free memory."""
    budget = available_bytes(device)
    if budget is None:
        return
    for height, width in sorted(set(sizes), key=lambda size: -size[0] * size[1]):
        batch = min(batch_size, sizes.count((height, width)))
        needed = inference_bytes(network, batch, height, width)
        if needed <= budget:
            continue
        fit_h, fit_w = largest_fitting(network, batch, height, width, budget)
        fits = f"about {fit_w}x{fit_h} would fit" if fit_h else "not even 16x16 pixels fit"
        smaller_batch = ", use batch_size=1" if batch > 1 else ""
        raise MemoryBudgetError(
            f"a {width}x{height} pair needs about {needed / 2**30:.1f} GiB for inference (max_disparity "
            f"{network.max_disparity}, batch {batch}) and {device} has {budget / 2**30:.1f} GiB free; "
            f"{fits}: downscale the images{smaller_batch} or lower max_disparity="
        )


def predict(
    network: nn.Module, lefts: Sequence[np.ndarray], rights: Sequence[np.ndarray], device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Images of one size, (H, W, 3) float in [0, 1] -> disparity and confidence, float32 (B, H, W)."""

    def batch(images: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(device)

    with torch.inference_mode():
        output = network(batch(lefts), batch(rights))
    disparity = output["disparity"].float().cpu().numpy()
    confidence = output["confidence"].float().cpu().numpy()
    return disparity, confidence


def batches(sizes: Sequence[tuple[int, int]], batch_size: int) -> Iterator[list[int]]:
    """Indices of pairs in batches of up to ``batch_size`` pairs of one size, in first-seen order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, size in enumerate(sizes):
        groups.setdefault(size, []).append(index)
    for indices in groups.values():
        for start in range(0, len(indices), batch_size):
            yield indices[start : start + batch_size]


# ---------------------------------------------------------------------------------------------------------
# The whole run
# ---------------------------------------------------------------------------------------------------------


def infer(
    pairs: Sequence[Pair],
    output_dir: str | Path | None,
    checkpoint: str | Path,
    max_disparity: int | None = None,
    batch_size: int = 1,
    device: str = "auto",
    calibration: Calibration | None = None,
    ply_stride: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Check everything, predict every pair, then move all outputs into ``output_dir`` at once
    (None: a new ``outputs/infer/<time>`` folder); returns a summary. Outputs that already exist are an
    error unless ``overwrite``."""
    batch_size = options.integer(batch_size, "batch_size", minimum=1)
    ply_stride = options.integer(ply_stride, "ply_stride", minimum=1, maximum=MAX_PLY_STRIDE)
    max_disparity = options.integer(max_disparity, "max_disparity", minimum=4, optional=True)
    options.boolean(overwrite, "overwrite")
    stems = output_stems(pairs)
    torch_device = resolve_device(device)
    network = network_from_checkpoint(checkpoint, max_disparity)
    sizes = check_pairs(pairs)
    check_memory(network, sizes, batch_size, torch_device)
    names = [name for stem in stems for name in output_names(stem, calibration is not None)]
    if output_dir is None:
        output_dir, owned = reserve_folder(DEFAULT_OUTPUT_PARENT, timestamp(), "output_dir"), True
    else:
        output_dir, owned = Path(output_dir), False
    inputs = {os.path.realpath(path) for pair in pairs for path in (pair.left, pair.right)}
    clash = next((name for name in names if os.path.realpath(output_dir / name) in inputs), None)
    if clash is not None:
        raise InputError(f"output_dir={output_dir}: its {clash} would replace an input image of this run")
    # With overwrite, an earlier run's depth and point cloud of a stem go too: never a mix of runs.
    every = [name for stem in stems for name in output_names(stem, with_depth=True)]
    stale = [name for name in every if name not in names]
    staging = Staging(output_dir, names, "output_dir", replace=overwrite, owned=owned, stale=stale)

    network.to(torch_device)
    with staging as folder, tqdm(total=len(pairs), desc="pairs", unit="pair", disable=not progress) as bar:
        for indices in batches(sizes, batch_size):
            images = [load_pair(pairs[index]) for index in indices]
            disparity, confidence = predict(
                network, [left for left, _ in images], [right for _, right in images], torch_device
            )
            for row, index in enumerate(indices):
                left = images[row][0]
                write_outputs(
                    folder,
                    stems[index],
                    left,
                    disparity[row],
                    confidence[row],
                    network.max_disparity,
                    calibration,
                    ply_stride,
                )
            bar.update(len(indices))
    return {
        "output_dir": output_dir,
        "pairs": len(pairs),
        "files": len(names),
        "max_disparity": network.max_disparity,
        "device": str(torch_device),
    }
