"""Running a trained checkpoint on image pairs: finding the pairs, checking them, predicting, writing.

Everything that can be wrong with the inputs is checked before the first output is written: the pairs
exist and match, stems are unique, the calibration has its fields, the checkpoint loads into its own
architecture, and every image decodes with left and right of one size. Errors are ``ValueError``
subclasses or ``FileNotFoundError`` with one-line messages naming the file or option.
"""

from __future__ import annotations

import glob
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from torch import nn
from tqdm import tqdm

from stereo_attn.calibration import Calibration
from stereo_attn.checkpoint import CheckpointError, fit_weights, network_weights, read_checkpoint
from stereo_attn.data.io import read_image
from stereo_attn.outputs import write_outputs

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp")
GLOB_CHARACTERS = "*?["


class InputError(ValueError):
    """The pairs, options or files asked for cannot be used; the message names the culprit."""


@dataclass(frozen=True)
class Pair:
    left: Path
    right: Path

    @property
    def stem(self) -> str:
        return self.left.stem


# ---------------------------------------------------------------------------------------------------------
# Finding pairs
# ---------------------------------------------------------------------------------------------------------


def _is_glob(spec: str) -> bool:
    return any(character in spec for character in GLOB_CHARACTERS)


def expand_images(spec: str, side: str) -> list[Path]:
    """The image files a folder holds (png/jpg/jpeg/ppm/bmp) or a glob matches, sorted."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{side}={spec}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if _is_glob(spec):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            raise InputError(f"{side}={spec}: the glob matches no files")
        return files
    if path.is_file():
        raise InputError(f"{side}={spec}: a single file, but the other side is a folder or glob")
    raise FileNotFoundError(f"{side}={spec}: no such folder")


def match_by_name(lefts: Sequence[Path], rights: Sequence[Path]) -> list[Pair]:
    """Pair each left image with the right image of the same file name."""
    by_name: dict[str, Path] = {}
    for right in rights:
        if right.name in by_name:
            raise InputError(f"right images {by_name[right.name]} and {right} share the name {right.name}")
        by_name[right.name] = right
    pairs = []
    for left in lefts:
        if left.name not in by_name:
            raise InputError(f"{left}: no right image named {left.name}")
        pairs.append(Pair(left, by_name[left.name]))
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
    elif Path(left).is_dir() or _is_glob(left):
        pairs = match_by_name(expand_images(left, "left"), expand_images(right, "right"))
    else:
        side, spec = ("left", left) if not Path(left).is_file() else ("right", right)
        raise FileNotFoundError(f"{side}={spec}: no such file")
    check_stems(pairs)
    return pairs


def check_stems(pairs: Sequence[Pair]) -> None:
    """Outputs are named after the left image's stem: two pairs must not share one."""
    seen: dict[str, Path] = {}
    for pair in pairs:
        if pair.stem in seen:
            raise InputError(
                f"left images {seen[pair.stem]} and {pair.left} share the stem {pair.stem!r}: "
                "their outputs would overwrite each other"
            )
        seen[pair.stem] = pair.left


def load_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float32 RGB (H, W, 3) in [0, 1]; an error naming both files if their sizes differ."""
    left, right = read_image(pair.left), read_image(pair.right)
    if left.shape != right.shape:
        (lh, lw), (rh, rw) = left.shape[:2], right.shape[:2]
        raise InputError(f"{pair.left} ({lw}x{lh}) and {pair.right} ({rw}x{rh}) differ in size")
    return left, right


def check_pairs(pairs: Sequence[Pair]) -> list[tuple[int, int]]:
    """Decode every image once (so a bad file fails before any output); returns each pair's (H, W)."""
    return [load_pair(pair)[0].shape[:2] for pair in pairs]


# ---------------------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------------------


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise InputError(f"device={name}: expected auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device=cuda: CUDA is not available on this machine")
    return torch.device(name)


def load_network(path: str | Path, max_disparity: int | None = None) -> tuple[nn.Module, int]:
    """The checkpoint's network in eval mode, optionally with a smaller max_disparity (the weights do not
    depend on it, only the number of disparity bins does); returns it with the max_disparity used."""
    checkpoint = read_checkpoint(path)
    config = checkpoint.get("hyper_parameters", {}).get("model")
    if not isinstance(config, dict) or "_target_" not in config or "max_disparity" not in config:
        raise CheckpointError(f"{path}: no model config with a max_disparity in its hyper_parameters")
    trained = int(config["max_disparity"])
    if max_disparity is None:
        max_disparity = trained
    if max_disparity > trained:
        raise InputError(f"max_disparity={max_disparity} exceeds the checkpoint's {trained} ({path})")
    if max_disparity < 4:
        raise InputError(f"max_disparity={max_disparity}: must be at least 4 pixels")
    try:
        network = instantiate({**config, "max_disparity": int(max_disparity)}, _convert_="all")
    except Exception as error:  # an unknown _target_ or options of another code version
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: cannot build its model config ({reason})") from None
    fit_weights(network, network_weights(checkpoint), path)
    return network.eval(), int(max_disparity)


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
    output_dir: str | Path,
    checkpoint: str | Path,
    max_disparity: int | None = None,
    batch_size: int = 1,
    device: str = "auto",
    calibration: Calibration | None = None,
    ply_stride: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Check everything, then predict and write each pair's outputs; returns a summary."""
    if batch_size < 1:
        raise InputError(f"batch_size={batch_size}: must be at least 1")
    if ply_stride < 1:
        raise InputError(f"ply_stride={ply_stride}: must be at least 1")
    check_stems(pairs)
    torch_device = resolve_device(device)
    network, max_disparity = load_network(checkpoint, max_disparity)
    sizes = check_pairs(pairs)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"output_dir={output_dir}: exists and is not a folder")

    output_dir.mkdir(parents=True, exist_ok=True)
    network.to(torch_device)
    written = 0
    with tqdm(total=len(pairs), desc="pairs", unit="pair", disable=not progress) as bar:
        for indices in batches(sizes, batch_size):
            images = [load_pair(pairs[index]) for index in indices]
            disparity, confidence = predict(
                network, [left for left, _ in images], [right for _, right in images], torch_device
            )
            for row, index in enumerate(indices):
                written += len(
                    write_outputs(
                        output_dir,
                        pairs[index].stem,
                        images[row][0],
                        disparity[row],
                        confidence[row],
                        max_disparity,
                        calibration,
                        ply_stride,
                    )
                )
            bar.update(len(indices))
    return {
        "output_dir": output_dir,
        "pairs": len(pairs),
        "files": written,
        "max_disparity": max_disparity,
        "device": str(torch_device),
    }
