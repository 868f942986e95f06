"""Outputs appear whole or not at all, never mixed with an earlier run's."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from stereo_attn.cli import run_reporting_errors
from stereo_attn.options import OptionError
from stereo_attn.staging import STAGING_PREFIX, Staging, reserve_folder


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_entries_are_moved_in_only_when_the_job_succeeds(tmp_path: Path) -> None:
    root = tmp_path / "out"
    with Staging(root, ["a.txt", "sub/b"], "output_dir") as folder:
        (folder / "a.txt").write_text("a")
        (folder / "sub" / "b").mkdir(parents=True)
        (folder / "sub" / "b" / "c.txt").write_text("c")
        assert not (root / "a.txt").exists()  # nothing visible while the job runs
    assert tree(root) == {"a.txt": "a", "sub/b/c.txt": "c"}
    assert not any(p.name.startswith(STAGING_PREFIX) for p in root.iterdir())


def test_a_failed_job_leaves_nothing_and_removes_the_folder_it_created(tmp_path: Path) -> None:
    root = tmp_path / "new" / "out"
    with (
        pytest.raises(RuntimeError, match="half-way"),
        Staging(root, ["a.txt", "b.txt"], "output_dir") as folder,
    ):
        (folder / "a.txt").write_text("a")
        raise RuntimeError("half-way")
    assert not (tmp_path / "new").exists()
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "keep.txt").write_text("keep")
    with pytest.raises(RuntimeError), Staging(earlier, ["a.txt"], "output_dir") as folder:
        (folder / "a.txt").write_text("a")
        raise RuntimeError
    assert tree(earlier) == {"keep.txt": "keep"}


def test_earlier_outputs_are_refused_unless_replacing_is_asked_for(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "old.txt").write_text("old")
    with pytest.raises(OptionError, match=r"output_dir=.*already holds a\.txt and 1 more .*overwrite=true"):
        Staging(tmp_path, ["a.txt", "d", "new.txt"], "output_dir")
    with Staging(tmp_path, ["a.txt", "d"], "output_dir", replace=True) as folder:
        (folder / "a.txt").write_text("new")
        (folder / "d").mkdir()
        (folder / "d" / "new.txt").write_text("new")
    # A replaced folder is replaced whole: no file of the earlier run is left inside it.
    assert tree(tmp_path) == {"a.txt": "new", "d/new.txt": "new"}


def test_a_job_that_forgets_an_entry_publishes_nothing(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match=r"did not write b\.txt"),
        Staging(tmp_path, ["a.txt", "b.txt"], "o") as f,
    ):
        (f / "a.txt").write_text("a")
    assert tree(tmp_path) == {}


def test_bad_destinations_name_the_option(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OptionError, match=r"output_dir=.*file: exists and is not a folder"):
        Staging(tmp_path / "file", ["a"], "output_dir")
    with pytest.raises(OptionError, match=r"output_dir=.*file/sub: cannot write there"):
        Staging(tmp_path / "file" / "sub", ["a"], "output_dir").__enter__()
    with pytest.raises(OptionError, match="would share a name"):
        Staging(tmp_path, ["a", "a"], "output_dir")


def test_reserved_folders_never_collide(tmp_path: Path) -> None:
    names = [reserve_folder(tmp_path / "runs", "2026-01-01_00-00-00", "output_dir").name for _ in range(3)]
    assert names == ["2026-01-01_00-00-00", "2026-01-01_00-00-00-2", "2026-01-01_00-00-00-3"]
    (tmp_path / "flat").write_text("")
    with pytest.raises(OptionError, match=r"output_dir=.*flat: cannot create a folder there"):
        reserve_folder(tmp_path / "flat", "x", "output_dir")


def test_a_failed_job_keeps_what_another_run_wrote_into_its_new_folder(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    with pytest.raises(RuntimeError), Staging(root, ["a.txt"], "output_dir") as folder:
        (folder / "a.txt").write_text("mine")
        (root / "b.txt").write_text("another run's")  # a second run published here meanwhile
        raise RuntimeError
    assert tree(root) == {"b.txt": "another run's"}


def test_an_entry_that_appears_while_the_job_runs_is_not_replaced(tmp_path: Path) -> None:
    appeared = pytest.raises(OptionError, match=r"a\.txt appeared while this job ran")
    with appeared, Staging(tmp_path, ["a.txt"], "output_dir") as folder:
        (folder / "a.txt").write_text("mine")
        (tmp_path / "a.txt").write_text("theirs")
    assert tree(tmp_path) == {"a.txt": "theirs"}


def test_replacing_removes_stale_outputs_of_the_earlier_run(tmp_path: Path) -> None:
    for name in ("x.pfm", "x_depth.pfm", "y.pfm"):
        (tmp_path / name).write_text("old")
    with Staging(tmp_path, ["x.pfm"], "output_dir", replace=True, stale=["x_depth.pfm"]) as folder:
        (folder / "x.pfm").write_text("new")
    assert tree(tmp_path) == {"x.pfm": "new", "y.pfm": "old"}


def test_a_file_in_the_way_of_an_entry_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "disparity").write_text("")
    with pytest.raises(OptionError, match=r"disparity is in the way, expected a folder"):
        Staging(tmp_path, ["frames_finalpass/TEST", "disparity/TEST"], "root")


def test_sigterm_removes_staged_outputs_and_exits_143(tmp_path: Path) -> None:
    def job() -> None:
        with Staging(tmp_path / "out", ["a.txt"], "output_dir") as folder:
            (folder / "a.txt").write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped:
        run_reporting_errors(job)
    assert stopped.value.code == 143 and not (tmp_path / "out").exists()
    assert signal.getsignal(signal.SIGTERM) == previous
