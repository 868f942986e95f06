"""Photographic textures from a user's folder of photos.

The scene generator maps random crops of real photos onto surfaces so that the synthetic world has
natural image statistics. Folders can hold hundreds of multi-megapixel photos, so construction only
checks file signatures; photos are decoded on first use, downsized, and kept as mip pyramids (the
renderer samples the level that matches a surface's footprint) in a cache bounded by bytes.
"""

from __future__ import annotations

import logging
import operator
import os
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np

from stereo_attn.data.io import read_photo

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Pyramid levels stop before the shorter side would fall below this: smaller levels hold too few
# pixels to crop a texture from.
MIN_LEVEL_SIDE = 16

_log = logging.getLogger(__name__)
_EXPECTED = "expected a folder of photos (.jpg, .jpeg, .png, searched recursively)"


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def find_photos(folder: str) -> list[str]:
    """Image files under ``folder``, as absolute paths sorted by relative path (same order everywhere)."""
    root = os.path.abspath(folder)
    found = []
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames:
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                path = os.path.join(dirpath, name)
                # Sort on the '/'-separated relative path so the order doesn't depend on the OS.
                found.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    found.sort()
    return [path for _rel, path in found]


def build_pyramid(image: np.ndarray) -> list[np.ndarray]:
    """Mip pyramid of ``image``: level 0 is the image itself, each next level is ``cv2.pyrDown`` of the
    previous one, stopping before the shorter side would drop below ``MIN_LEVEL_SIDE`` pixels."""
    levels = [image]
    while min((levels[-1].shape[0] + 1) // 2, (levels[-1].shape[1] + 1) // 2) >= MIN_LEVEL_SIDE:
        levels.append(cv2.pyrDown(levels[-1]))
    return levels


class PhotoLibrary:
    """Photos under a folder (recursively), decoded on first use into a bounded LRU cache of mip pyramids."""

    def __init__(
        self, folder: str | os.PathLike, max_side: int = 1024, cache_bytes: int = 256 * 2**20
    ) -> None:
        folder = os.fspath(folder)
        if not _is_int(max_side) or max_side < MIN_LEVEL_SIDE:
            raise ValueError(f"max_side={max_side!r}: expected an integer >= {MIN_LEVEL_SIDE}")
        if not _is_int(cache_bytes) or cache_bytes < 0:
            raise ValueError(f"cache_bytes={cache_bytes!r}: expected an integer >= 0")
        if not os.path.exists(folder):
            raise ValueError(f"textures={folder}: no such directory; {_EXPECTED}")
        if not os.path.isdir(folder):
            raise ValueError(f"textures={folder}: not a directory; {_EXPECTED}")
        candidates = find_photos(folder)
        if not candidates:
            raise ValueError(f"textures={folder}: no .jpg, .jpeg or .png files under it; {_EXPECTED}")
        # haveImageReader only looks at the file signature: cheap even for 100+ large photos. Files
        # that pass it but fail to decode are caught later, in pyramid().
        paths = []
        for path in candidates:
            if cv2.haveImageReader(path):
                paths.append(path)
            else:
                _log.warning("textures: %s: not a readable image, skipped", path)
        if not paths:
            raise ValueError(
                f"textures={folder}: none of the {len(candidates)} .jpg, .jpeg or .png files under it "
                f"is a readable image; {_EXPECTED}"
            )
        self.folder = folder
        self.max_side = int(max_side)
        self.cache_bytes = int(cache_bytes)
        self._paths = tuple(paths)
        self._bad: set[int] = set()
        self._cache: OrderedDict[int, list[np.ndarray]] = OrderedDict()
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self._paths)

    @property
    def paths(self) -> tuple[str, ...]:
        """Absolute paths of the photos, sorted by path relative to the folder."""
        return self._paths

    def pyramid(self, index: int) -> list[np.ndarray] | None:
        """Mip pyramid of photo ``index`` (uint8 HxWx3 RGB arrays, level 0 first, read-only), or None if
        the file can't be decoded (then it is None on every later call too, so callers fall back the
        same way in every process)."""
        index = operator.index(index)
        if not 0 <= index < len(self._paths):
            raise IndexError(f"photo index {index} out of range for {len(self._paths)} photos")
        if index in self._bad:
            return None
        levels = self._cache.get(index)
        if levels is not None:
            self._cache.move_to_end(index)
            return levels
        levels = self._decode(index)
        if levels is None:
            self._bad.add(index)
            return None
        self._cache[index] = levels
        self._cached_bytes += sum(level.nbytes for level in levels)
        # Evict least recently used pyramids, but always keep the one just decoded.
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _old, evicted = self._cache.popitem(last=False)
            self._cached_bytes -= sum(level.nbytes for level in evicted)
        return levels

    def _decode(self, index: int) -> list[np.ndarray] | None:
        path = self._paths[index]
        try:
            image = read_photo(path, self.max_side)
        except (OSError, ValueError) as error:  # DataFormatError is a ValueError
            _log.warning(
                "textures: %s: could not be decoded (%s), using procedural textures instead", path, error
            )
            return None
        levels = build_pyramid(image)
        # Cached arrays are shared by every caller: read-only so one caller can't corrupt another's.
        for level in levels:
            level.setflags(write=False)
        return levels

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers get the library pickled: send paths and known-bad files, not the cache
        # (each worker builds its own).
        state = self.__dict__.copy()
        del state["_cache"], state["_cached_bytes"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache = OrderedDict()
        self._cached_bytes = 0
