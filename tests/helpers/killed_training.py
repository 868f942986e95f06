"""scripts/train.py that SIGKILLs itself at a chosen point, for resume tests.

``python tests/helpers/killed_training.py STEP PHASE [overrides...]``: PHASE ``train`` kills as the training
batch after step STEP starts (after that step's validation and its checkpoints); ``validation`` kills
inside the validation at step STEP, before its checkpoints. A real SIGKILL (no handler runs, nothing is
flushed), at a point set by the schedule rather than by timing. The kill comes from a callback passed
through ``train``'s ``extra_callbacks``: config targets must be project classes.
"""

from __future__ import annotations

import functools
import os
import runpy
import signal
import sys
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from stereo_attn.training import run

# A program of its own (tests/helpers is its sys.path[0], not tests/): it finds the script itself.
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"


class KillAt(Callback):
    def __init__(self, step: int, phase: str) -> None:
        if phase not in ("train", "validation"):
            raise ValueError(f"phase {phase!r}: train or validation")
        self.step, self.phase = step, phase

    def on_train_batch_start(self, trainer: L.Trainer, *_: Any) -> None:
        if self.phase == "train" and trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_validation_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: Any, index: int, *_: Any
    ) -> None:
        if self.phase == "validation" and trainer.global_step == self.step and index == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # after the first validation batch


if __name__ == "__main__":
    step, phase, *overrides = sys.argv[1:]
    run.train = functools.partial(run.train, extra_callbacks=[KillAt(int(step), phase)])
    sys.argv = [str(SCRIPT), *overrides]
    runpy.run_path(str(SCRIPT), run_name="__main__")
