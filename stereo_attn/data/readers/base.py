"""What every benchmark reader shares: the dataset classes, layout errors, and plain-text file lists.

A reader finds its pairs once (scanning the benchmark's folder layout, or reading a file list) and keeps
them as *entries*: dicts of absolute paths (``left``, ``right``, ``disparity`` or None) plus
dataset-specific extras. ``load(entry)`` reads one entry into a sample (see ``sample.py``): the two
images here, the ground truth through the reader's ``ground_truth`` hook, the meta through its ``meta``
hook; ``__getitem__`` applies the optional transform. ``FolderDataset`` adds the constructor of the
benchmarks read from their folder layout (root, split and empty-dataset checks, then the reader's scan).

File lists are one pair per line, paths relative to the dataset root, separated by spaces:
``left right [disparity]``; blank lines and lines starting with ``#`` are skipped. This is the format of
the PSMNet/GwcNet Scene Flow lists, so those lists can be read as they are.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from torch.utils.data import Dataset

from stereo_attn.data.io import DataFormatError, read_image, read_mask, read_pfm
from stereo_attn.data.sample import Sample, make_sample

Entry = dict[str, Any]
# (disparity, valid, valid_noc or None), as make_sample takes them.
GroundTruth = tuple[np.ndarray, np.ndarray, np.ndarray | None]
T = TypeVar("T")

PATH_KEYS = ("left", "right", "disparity")


class DatasetLayoutError(ValueError):
    """A dataset root that is missing, empty, or not laid out as the benchmark ships it."""


def layout_error(root: str | os.PathLike, problem: str, expected: str) -> DatasetLayoutError:
    """One line: the path, what is wrong, and the layout the reader expects."""
    return DatasetLayoutError(f"{root}: {problem}; expected {expected}")


def require_dir(root: str | os.PathLike, expected: str) -> str:
    """The absolute path of ``root``, or a DatasetLayoutError if it is not a directory."""
    path = os.path.abspath(os.fspath(root))
    if not os.path.exists(path):
        raise layout_error(path, "no such directory", expected)
    if not os.path.isdir(path):
        raise layout_error(path, "not a directory", expected)
    return path


def read_checked(reader: Callable[[str], T], path: str) -> T:
    """Call an io reader; make sure whatever it raises names the file."""
    try:
        return reader(path)
    except Exception as exc:
        if path in str(exc):
            raise
        if isinstance(exc, FileNotFoundError):
            raise FileNotFoundError(f"{path}: no such file") from exc
        raise DataFormatError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def check_size(path: str, array: np.ndarray, reference_path: str, reference: np.ndarray) -> None:
    """Raise DataFormatError naming ``path`` if ``array`` is not as high and wide as ``reference``."""
    if array.shape[:2] != reference.shape[:2]:
        raise DataFormatError(
            f"{path}: size {array.shape[1]}x{array.shape[0]} does not match "
            f"{reference_path} ({reference.shape[1]}x{reference.shape[0]})"
        )


def nonoccluded_from_mask(mask: np.ndarray, shape: tuple[int, int], path: str) -> np.ndarray:
    """Middlebury/ETH3D ``mask0nocc.png``: 255 = non-occluded, 128 = occluded, 0 = no ground truth."""
    if mask.ndim != 2 or mask.shape != tuple(shape):
        raise DataFormatError(
            f"{path}: mask size {'x'.join(map(str, mask.shape[1::-1]))} does not match "
            f"the disparity ({shape[1]}x{shape[0]})"
        )
    return mask == 255


def require_files(paths: Iterable[str | None], expected: str, context: str = "") -> None:
    """Each given path (None: not needed) must be a file; else one line naming it and the layout."""
    for path in paths:
        if path is not None and not os.path.isfile(path):
            raise DatasetLayoutError(f"{path}: missing{context}; expected {expected}")


def read_disparity_pfm(path: str) -> np.ndarray:
    """A single-channel (Pf) disparity PFM, inf where unknown; a colour PFM is a DataFormatError."""
    disparity = read_checked(read_pfm, path)
    if disparity.ndim != 2:
        raise DataFormatError(f"{path}: expected a single-channel (Pf) disparity PFM")
    return disparity


def read_pfm_ground_truth(
    disparity_path: str, mask_path: str | None, left_path: str, left: np.ndarray
) -> GroundTruth:
    """Middlebury/ETH3D ground truth: a single-channel PFM with inf where unknown, and optionally
    mask0nocc.png (255 = non-occluded). Returns (disparity, valid, valid_noc or None)."""
    disparity = read_disparity_pfm(disparity_path)
    check_size(disparity_path, disparity, left_path, left)
    valid_noc = None
    if mask_path:
        mask = read_checked(read_mask, mask_path)
        valid_noc = nonoccluded_from_mask(mask, disparity.shape, mask_path)
    return disparity, np.isfinite(disparity), valid_noc


def pair_entry(
    left: str | os.PathLike, right: str | os.PathLike, disparity: str | os.PathLike | None
) -> Entry:
    return {
        "left": os.fspath(left),
        "right": os.fspath(right),
        "disparity": None if disparity is None else os.fspath(disparity),
    }


class StereoDataset(Dataset):
    """A list of entries, read one at a time by ``load`` and passed through ``transform``.

    Subclasses set ``name`` (the ``meta["dataset"]`` value), implement ``ground_truth`` and extend
    ``meta`` with their own fields.
    """

    name = "stereo"

    def __init__(
        self,
        entries: Iterable[Entry],
        transform: Callable[[Sample], Any] | None = None,
        *,
        root: str | os.PathLike = "",
        expected: str = "a non-empty list of stereo pairs",
        what: str = "stereo pairs",
    ) -> None:
        self.root = os.fspath(root)
        self.entries: list[Entry] = list(entries)
        self.transform = transform
        if not self.entries:
            raise layout_error(self.root or "<entries>", f"no {what} found", expected)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Any:
        sample = self.load(self.entries[index])
        return sample if self.transform is None else self.transform(sample)

    def load(self, entry: Entry) -> Sample:
        """Read the left and right images, then the ground truth if the entry has any."""
        left = read_checked(read_image, entry["left"])
        right = read_checked(read_image, entry["right"])
        disparity = valid = valid_noc = None
        if entry.get("disparity"):
            disparity, valid, valid_noc = self.ground_truth(entry, left)
        return make_sample(left, right, disparity, valid, self.meta(entry), valid_noc=valid_noc)

    def ground_truth(self, entry: Entry, left: np.ndarray) -> GroundTruth:
        """The entry's (disparity, valid, valid_noc or None); ``left`` is there for size checks."""
        raise NotImplementedError

    def meta(self, entry: Entry) -> dict[str, Any]:
        """The fields every sample's meta has; readers add theirs with ``{**super().meta(entry), ...}``."""
        return {
            "dataset": self.name,
            "left_path": entry["left"],
            "right_path": entry["right"],
            "disparity_path": entry.get("disparity") or "",
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.root!r}, pairs={len(self)})"


class FolderDataset(StereoDataset):
    """A benchmark read from its own folder layout: subclasses give ``expected_layout`` and ``scan``.

    ``title`` names the benchmark in messages, ``unit`` what it is made of ("pairs", "scenes"), and
    ``splits`` the split names it accepts (empty: it has none, and ``split`` stays None).
    """

    title = ""
    unit = "pairs"
    splits: tuple[str, ...] = ()

    def __init__(
        self,
        root: str | os.PathLike,
        transform: Callable[[Sample], Any] | None = None,
        *,
        split: str | None = None,
    ) -> None:
        if self.splits and split not in self.splits:
            raise ValueError(f"unknown {self.title} split {split!r}; choose from {', '.join(self.splits)}")
        # Set before the layout text and the scan, which both depend on it.
        self.split = split
        expected = self.expected_layout(os.path.abspath(os.fspath(root)))
        root_abs = require_dir(root, expected)
        what = " ".join(part for part in (self.title, split, self.unit) if part)
        super().__init__(self.scan(root_abs), transform, root=root_abs, expected=expected, what=what)

    def expected_layout(self, root: str) -> str:
        """The layout this reader expects under ``root``, as the tail of every layout error."""
        raise NotImplementedError

    def scan(self, root: str) -> list[Entry]:
        """The entries under the absolute ``root``; [] if there are none (the constructor reports it)."""
        raise NotImplementedError


def write_file_list(path: str | os.PathLike, entries: Sequence[Entry], root: str | os.PathLike) -> None:
    """Write ``left right [disparity]`` per line, relative to ``root``, atomically."""
    root_abs = Path(os.path.abspath(os.fspath(root)))
    lines = []
    for entry in entries:
        fields = []
        for key in PATH_KEYS:
            value = entry.get(key)
            if value is None:
                if key != "disparity":
                    raise ValueError(f"file list entry has no {key!r} path: {entry}")
                continue
            absolute = Path(os.path.abspath(os.fspath(value)))
            try:
                relative = absolute.relative_to(root_abs).as_posix()
            except ValueError:
                raise ValueError(f"{absolute}: not under the file list root {root_abs}") from None
            if any(char.isspace() for char in relative):
                raise ValueError(f"{absolute}: a path with whitespace cannot be stored in a file list")
            fields.append(relative)
        lines.append(" ".join(fields) + "\n")

    target = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".txt", dir=os.path.dirname(target))
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.writelines(lines)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def read_file_list(path: str | os.PathLike, root: str | os.PathLike) -> list[Entry]:
    """Read a list written by ``write_file_list`` (or a PSMNet/GwcNet list); every listed file must exist."""
    list_path = os.path.abspath(os.fspath(path))
    root_abs = os.path.abspath(os.fspath(root))
    try:
        with open(list_path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise DatasetLayoutError(f"{list_path}: file list not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetLayoutError(f"{list_path}: cannot read the file list ({exc})") from exc

    entries = []
    missing: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        if len(fields) not in (2, 3):
            raise DatasetLayoutError(
                f"{list_path}:{number}: expected 'left right [disparity]' (2 or 3 paths), "
                f"got {len(fields)} field(s): {stripped!r}"
            )
        absolute = [os.path.normpath(os.path.join(root_abs, field)) for field in fields]
        missing.extend((number, file) for file in absolute if not os.path.isfile(file))
        entries.append(pair_entry(absolute[0], absolute[1], absolute[2] if len(absolute) == 3 else None))
    if missing:
        number, file = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetLayoutError(f"{list_path}:{number}: listed file {file} does not exist{more}")
    return entries
