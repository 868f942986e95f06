"""Callbacks the training run adds to Lightning's own."""

from __future__ import annotations

import os

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException


class LastCheckpoint(Callback):
    """Writes ``last.ckpt`` when training ends and when it is interrupted (Ctrl-C, or SIGTERM from a
    scheduler), so ``ckpt_path=.../last.ckpt`` continues from the final or the interrupted step.

    ModelCheckpoint writes only after validations; Lightning's OnExceptionCheckpoint deletes its file
    at teardown and also saves after crashes, where the state may be half-updated.
    """

    def __init__(self, dirpath: str | os.PathLike) -> None:
        self.path = os.path.join(dirpath, "last.ckpt")

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path)  # Lightning writes through a temporary file

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt | SIGTERMException) and trainer.global_step > 0:
            settle_batch_progress(trainer)
            trainer.save_checkpoint(self.path)


def settle_batch_progress(trainer: L.Trainer) -> None:
    """Count the interrupted batch as not started.

    Lightning counts a batch as ready before its step runs and does not roll that back on restart, so
    a run resumed from a mid-step interruption validates and checkpoints one step off its schedule.
    """
    progress = trainer.fit_loop.epoch_loop.batch_progress
    for counts in (progress.total, progress.current):
        counts.ready = counts.started = counts.completed = counts.processed
