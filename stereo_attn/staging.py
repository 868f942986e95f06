"""Outputs that appear whole or not at all.

A job writes into a hidden temporary folder inside its destination and, only when it has succeeded,
moves each of its entries (files or folders) into place with ``os.replace`` (a rename within one file
system). On failure the temporary folder is removed, and so is a destination the job itself created.
Entries that already exist are refused before any work starts, unless the caller allows replacing
them, so earlier results are never silently mixed with new ones.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from stereo_attn.options import OptionError

STAGING_PREFIX = ".stereo_attn-partial-"


def timestamp() -> str:
    return time.strftime("%Y-%m-%d_%H-%M-%S")


def reserve_folder(parent: Path, name: str, option: str) -> Path:
    """Create ``parent/name`` (or ``name-2``, ``name-3``... if taken), so concurrent runs never share one."""
    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for number in range(1, 1000):
            folder = parent / (name if number == 1 else f"{name}-{number}")
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue
    except OSError as error:
        raise OptionError(f"{option}={parent}: cannot create a folder there ({error.strerror})") from None
    raise OptionError(f"{option}={parent}: every name {name}-N is taken")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


class Staging:
    """``with Staging(root, entries, ...) as folder:`` write ``entries`` (names relative to ``root``)
    into ``folder``; they are moved into ``root`` when the block ends without an exception.

    ``option`` names the option that chose ``root``, for error messages; ``replace`` allows entries
    that already exist (they are replaced); ``owned`` marks ``root`` as created for this job (removed
    again on failure, like a root that did not exist before).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        entries: Sequence[str],
        option: str,
        replace: bool = False,
        owned: bool = False,
        replace_hint: str | None = "overwrite=true",
        stale: Sequence[str] = (),
    ) -> None:
        self.root, self.entries, self.option, self.replace = Path(root), list(entries), option, replace
        if self.root.exists() and not self.root.is_dir():
            raise OptionError(f"{option}={self.root}: exists and is not a folder")
        if len(set(self.entries)) != len(self.entries):
            raise OptionError(f"{option}={self.root}: two outputs of this job would share a name")
        for entry in self.entries:  # e.g. a file named disparity where disparity/TEST must go
            for parent in (self.root / entry).parents:
                if parent == self.root or self.root not in parent.parents:
                    break
                if os.path.lexists(parent) and not parent.is_dir():
                    raise OptionError(f"{option}={self.root}: {parent} is in the way, expected a folder")
        taken = [entry for entry in self.entries if os.path.lexists(self.root / entry)]
        if taken and not replace:
            more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
            replacing = f" or set {replace_hint} to replace them" if replace_hint else ""
            raise OptionError(
                f"{option}={self.root}: already holds {taken[0]}{more} from an earlier run; choose "
                f"another {option}{replacing}"
            )
        # Earlier outputs of the same names that this job does not write again (replaced ones only).
        self.stale = [entry for entry in stale if replace and os.path.lexists(self.root / entry)]
        self.folder: Path | None = None
        self.created: Path | None = self.root if owned else None  # removed again if the job fails

    def __enter__(self) -> Path:
        # The topmost folder this job creates (root or an ancestor).
        missing = [folder for folder in (self.root, *self.root.parents) if not folder.exists()]
        if missing:
            self.created = missing[-1]
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.root))
        except OSError as error:
            raise OptionError(f"{self.option}={self.root}: cannot write there ({error.strerror})") from None
        return self.folder

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.folder is not None
        try:
            if kind is None:
                self._publish()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            if kind is not None and self.created is not None:
                self._remove_created()

    def _remove_created(self) -> None:
        """Remove the folders this job created, as far as they are empty: another run may have written
        into them meanwhile."""
        assert self.created is not None
        for folder in (self.root, *self.root.parents):
            try:
                folder.rmdir()
            except OSError:
                return
            if folder == self.created:
                return

    def _publish(self) -> None:
        assert self.folder is not None
        missing = [entry for entry in self.entries if not os.path.lexists(self.folder / entry)]
        if missing:
            raise RuntimeError(f"the job did not write {missing[0]} into {self.folder}")
        for entry in self.entries:
            if not self.replace and os.path.lexists(self.root / entry):
                raise OptionError(
                    f"{self.option}={self.root}: {entry} appeared while this job ran (another run "
                    "writing there?); nothing of this job was kept"
                )
        for entry in self.stale:
            _remove(self.root / entry)
        for entry in self.entries:
            source, target = self.folder / entry, self.root / entry
            target.parent.mkdir(parents=True, exist_ok=True)
            # Replacing was allowed at the start; os.replace cannot put a folder over an existing one.
            if os.path.lexists(target) and (source.is_dir() or target.is_dir()):
                _remove(target)
            os.replace(source, target)
