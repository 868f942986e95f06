"""Callbacks the training run adds to Lightning's own."""

from __future__ import annotations

import os

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
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

    def on_validation_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            # No batch is in flight yet. The one restart_validation counts as started would make this
            # run's later checkpoints, too, resume as interrupted inside a validation.
            total = trainer.fit_loop.epoch_loop.val_loop.batch_progress.total
            total.ready = total.started = total.processed

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        interrupted = isinstance(exception, KeyboardInterrupt | SIGTERMException)
        # Not a Ctrl-C in the final trainer.validate: last.ckpt already holds the finished fit.
        if interrupted and trainer.state.fn == TrainerFn.FITTING and trainer.global_step > 0:
            settle_progress(trainer)
            trainer.save_checkpoint(self.path)


def settle_progress(trainer: L.Trainer) -> None:
    """Leave Lightning's loop counters as its restart logic needs them to continue the uninterrupted run.

    Lightning resumes every checkpoint as written after the last finished batch and, when that batch was
    due a validation, as ModelCheckpoint writes it: after the validation, before the batch is counted in
    the logging step (``_batches_that_stepped``), which the resumed run then adds. An interruption lands
    anywhere: inside a step, inside the validation, between them.
    """
    epoch_loop = trainer.fit_loop.epoch_loop
    progress = epoch_loop.batch_progress
    # The last stepped batch's end (its validation, its logging step) has not run yet.
    unfinished = trainer.validating or progress.total.completed < progress.total.processed
    # Count an interrupted batch as not started: Lightning counts it as ready before its step runs and does
    # not roll that back on restart, so the resumed run would validate and checkpoint one step off.
    for counts in (progress.total, progress.current):
        counts.ready = counts.started = counts.completed = counts.processed
    # Lightning's own decision, on the state the checkpoint will hold (private, so pinned by tests).
    due = epoch_loop._should_check_val_fx(trainer.fit_loop._data_fetcher)
    if trainer.validating or (unfinished and due):
        restart_validation(trainer)
    elif unfinished:
        epoch_loop._batches_that_stepped += 1  # what the end of the batch would have counted
    elif due:
        epoch_loop._batches_that_stepped -= 1  # the resumed run counts the validated batch again


def restart_validation(trainer: L.Trainer) -> None:
    """Make the resumed run rerun the in-fit validation from its first batch.

    Lightning would continue an interrupted validation after its last finished batch, but the metric sums
    and pictures of the batches before are not in the checkpoint; and with no batch of it counted as
    started it skips that validation altogether. So: one batch started, none finished (until the resumed
    validation starts: see ``LastCheckpoint.on_validation_start``).
    """
    validation = trainer.fit_loop.epoch_loop.val_loop.batch_progress
    earlier = validation.total.ready - validation.current.ready  # earlier validations in this epoch
    validation.current.reset()
    validation.total.ready = validation.total.started = earlier + 1
    validation.total.processed = validation.total.completed = earlier
    validation.is_last_batch = False
