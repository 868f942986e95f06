"""Resuming repeats the uninterrupted run bit for bit, from whichever checkpoint the run wrote.

ModelCheckpoint's last.ckpt and best.ckpt (after each validation) after a hard kill, LastCheckpoint's on
Ctrl-C or SIGTERM, and the final one. Compared: the validations that run and their metrics, every
logged row, the validation pictures, the final weights, optimizer, schedule and loop counters.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from stereo_attn.checkpoint import read_checkpoint
from stereo_attn.training.run import build_module, train

from helpers.project import ROOT
from helpers.training import tiny_arguments, tiny_config

# 16 pairs at batch 2: 8 steps per epoch; a validation and checkpoints at steps 4, 8 (the end of the
# first epoch), 12 and 16. Validation EPE falls, so with mode=max best.ckpt stays at step 4: an older
# checkpoint than last.ckpt to resume from.
RUN = [
    "trainer.max_steps=16",
    "trainer.val_check_interval=4",
    "trainer.deterministic=true",
    "logger=csv",
    "callbacks.best.mode=max",
]
# What a resumed run must reproduce; ModelCheckpoint's own state holds the run folder's path.
CHECKPOINT_KEYS = (
    "global_step",
    "epoch",
    "state_dict",
    "optimizer_states",
    "lr_schedulers",
    "loops",
    "StereoDataModule",
    "nonfinite_in_a_row",
)


class Validations(Callback):
    """(step, metrics) of every validation, as the module computed them."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, dict[str, float]]] = []

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.seen.append((trainer.global_step, dict(module.validation_metrics)))


@dataclass
class Run:
    folder: Path
    result: dict[str, float] = field(default_factory=dict)
    validations: list[tuple[int, dict[str, float]]] = field(default_factory=list)


def fit(folder: Path, *overrides: str) -> Run:
    validations = Validations()
    result = train(tiny_config(folder, *RUN, *overrides), extra_callbacks=[validations])
    return Run(folder, result, validations.seen)


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return fit(tmp_path_factory.mktemp("whole"))


def assert_same(a: Any, b: Any, where: str) -> None:
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{index}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def logged_rows(folder: Path, version: int) -> dict[tuple[str, tuple[str, ...]], dict[str, str]]:
    """The CSV logger's rows by (logging step, columns set)."""
    with open(folder / "csv" / f"version_{version}" / "metrics.csv", newline="") as file:
        rows = [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(file)]
    return {(row["step"], tuple(sorted(row))): row for row in rows}


def assert_continues(whole: Run, resumed: Run, validated: list[int]) -> None:
    """``resumed`` ran the validations at steps ``validated`` and ended as ``whole``, bit for bit.

    Its folder holds the interrupted run's CSV log (version 0) and its own (version 1).
    """
    assert resumed.validations == [v for v in whole.validations if v[0] in validated]
    assert resumed.result == whole.result
    for name, keys in (("last.ckpt", CHECKPOINT_KEYS), ("best.ckpt", ("global_step", "state_dict"))):
        expected = read_checkpoint(whole.folder / "checkpoints" / name)
        got = read_checkpoint(resumed.folder / "checkpoints" / name)
        for key in keys:
            assert_same(got[key], expected[key], f"{name}:{key}")
    pictures = sorted(path.name for path in (whole.folder / "images").glob("*.png"))
    assert sorted(path.name for path in (resumed.folder / "images").glob("*.png")) == pictures
    for name in pictures:
        assert (resumed.folder / "images" / name).read_bytes() == (
            whole.folder / "images" / name
        ).read_bytes(), name
    # Every row the resumed run logged is the uninterrupted run's at the same logging step, and none is
    # missing from its first training step on.
    expected, got = logged_rows(whole.folder, 0), logged_rows(resumed.folder, 1)
    assert {key: expected.get(key) for key in got} == got
    first = min(int(step) for step, columns in got if "train/loss" in columns)
    assert {key for key in expected if int(key[0]) >= first and "train/loss" in key[1]} <= got.keys()


@pytest.mark.parametrize(
    ("step", "phase", "source", "resumed_at"),
    [
        (6, "train", "last", 4),  # after the first periodic checkpoint, mid-epoch
        (12, "validation", "last", 8),  # inside a validation: the one before, at the end of an epoch
        (13, "train", "best", 4),  # in the second epoch, from best.ckpt (last.ckpt is at step 12)
    ],
)
def test_resuming_after_a_hard_kill_matches_an_uninterrupted_run(
    whole: Run, step: int, phase: str, source: str, resumed_at: int, tmp_path: Path
) -> None:
    command = [
        sys.executable,
        "tests/helpers/killed_training.py",
        str(step),
        phase,
        *tiny_arguments(tmp_path, *RUN),
    ]
    killed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    checkpoints = {
        name: read_checkpoint(tmp_path / "checkpoints" / f"{name}.ckpt") for name in ("last", "best")
    }
    assert checkpoints[source]["global_step"] == resumed_at
    assert checkpoints["last"]["global_step"] == 4 * (step // 4 if phase == "train" else step // 4 - 1)
    resumed = fit(tmp_path, f"ckpt_path={tmp_path}/checkpoints/{source}.ckpt")
    assert_continues(whole, resumed, validated=[s for s in (4, 8, 12, 16) if s > resumed_at])


class Interrupt(Callback):
    """Ctrl-C (or SIGTERM) at one point of step ``step``."""

    def __init__(self, step: int, where: str) -> None:
        self.step, self.where = step, where

    def on_train_batch_start(self, trainer: L.Trainer, *_: Any) -> None:
        if self.where == "after validation" and trainer.global_step == self.step:
            raise KeyboardInterrupt

    def on_train_batch_end(self, trainer: L.Trainer, *_: Any) -> None:
        if trainer.global_step == self.step and self.where == "at batch end":
            raise KeyboardInterrupt
        if trainer.global_step == self.step and self.where == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)  # Lightning stops after this step's validation

    def on_validation_batch_start(self, trainer: L.Trainer, module: Any, batch: Any, index: int) -> None:
        if self.where == "in validation" and trainer.global_step == self.step and index == 1:
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("where", "step", "validated"),
    [
        ("in validation", 12, [12, 16]),  # that validation runs again, whole
        ("after validation", 12, [16]),  # the logging step must not count step 12 twice
        ("at batch end", 13, [16]),  # before Lightning counted step 13 in the logging step
        ("sigterm", 12, [12, 16]),  # Lightning stops inside the validation, after its first batch
    ],
)
def test_resuming_after_ctrl_c_or_sigterm_matches_an_uninterrupted_run(
    whole: Run, where: str, step: int, validated: list[int], tmp_path: Path
) -> None:
    try:
        with pytest.raises((SystemExit, SIGTERMException)):  # Lightning exits after saving on Ctrl-C
            train(tiny_config(tmp_path, *RUN), extra_callbacks=[Interrupt(step, where)])
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores further Ctrl-C
    assert read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == step
    resumed = fit(tmp_path, f"ckpt_path={tmp_path}/checkpoints/last.ckpt")
    assert_continues(whole, resumed, validated)


def test_resuming_from_the_final_checkpoint_reports_the_same_run(whole: Run, tmp_path: Path) -> None:
    resumed = fit(tmp_path, f"ckpt_path={whole.folder}/checkpoints/last.ckpt")
    assert resumed.result == whole.result
    assert resumed.validations == whole.validations[-1:]  # the final weights, validated again


def test_the_non_finite_loss_count_is_checkpointed(tmp_path: Path) -> None:
    module = build_module(tiny_config(tmp_path))
    module.nonfinite_in_a_row = 3
    checkpoint: dict[str, Any] = {}
    module.on_save_checkpoint(checkpoint)
    fresh = build_module(tiny_config(tmp_path))
    fresh.on_load_checkpoint(checkpoint)
    assert fresh.nonfinite_in_a_row == 3
