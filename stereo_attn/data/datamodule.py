"""The LightningDataModule: each stage's dataset mixture (``stereo_attn.data.datasets``), augmentation
and loaders."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import lightning as L
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.data import DataLoader, Dataset, default_collate

from stereo_attn import options
from stereo_attn.data.datasets import build_mixture
from stereo_attn.data.sample import Sample, to_tensors
from stereo_attn.data.sampling import EpochAugmented, EpochSampler, ShardSampler
from stereo_attn.data.transforms import build_train_transforms


def collate_samples(samples: list[Sample]) -> dict[str, Any]:
    """``default_collate``, with ``meta`` cut to the keys every sample of the batch has.

    The readers of a mixture record different extras (a generated pair its split and seed, a Scene
    Flow pair its subset and disparity path), and ``default_collate`` needs one set of keys.
    """
    shared = set.intersection(*(set(sample["meta"]) for sample in samples))
    trimmed = [
        {**sample, "meta": {k: v for k, v in sample["meta"].items() if k in shared}} for sample in samples
    ]
    return default_collate(trimmed)


def lower_priority(niceness: int, _worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: make this worker ``niceness`` steps nicer than its parent.

    Where the workers share cores with the training step (a CPU run), an equal-priority worker preempts
    the step's OpenMP threads, and every thread of a parallel region then waits for the preempted one
    at its barrier; a nicer worker runs in the step's idle time instead. On idle cores it runs at full
    speed either way.
    """
    if niceness and hasattr(os, "nice"):  # not on Windows
        os.nice(niceness)


class StereoDataModule(L.LightningDataModule):
    """Train, validation and test loaders from dataset specs; augmentation on training data only."""

    def __init__(
        self,
        train: Sequence[Mapping[str, Any]] = (),
        val: Sequence[Mapping[str, Any]] = (),
        test: Sequence[Mapping[str, Any]] = (),
        root: str | None = None,
        synthetic: Mapping[str, Any] | None = None,
        batch_size: int = 4,
        eval_batch_size: int = 1,
        num_workers: int = 2,
        worker_niceness: int = 0,
        crop: Sequence[int] | None = (256, 512),
        augment: Mapping[str, Any] | None = None,
        seed: int = 0,
        name: str = "",
        max_disparity: float = 192,
    ) -> None:
        """``max_disparity``: the range this data is trained and evaluated over (Scene Flow's protocol
        counts 0 < gt < 192); model presets take theirs from it unless ``model.max_disparity`` is set.
        ``worker_niceness``: how much lower the DataLoader workers' scheduling priority is (0 to 19).
        """
        super().__init__()
        self.worker_niceness = options.integer(worker_niceness, "worker_niceness", minimum=0, maximum=19)
        self.max_disparity = float(max_disparity)
        self.specs = {"train": list(train), "val": list(val), "test": list(test)}
        self.common = {"root": root, "synthetic": synthetic}
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        augment = dict(augment or {})
        self.train_augment = build_train_transforms(crop=crop, **augment)
        self.seed = int(seed)
        self.resume_at: tuple[int, int] | None = None  # (epoch, batches done), from a checkpoint
        self.name = name
        self.datasets: dict[str, Dataset] = {}

    def dataset(self, stage: str) -> Dataset:
        """The mixture for ``stage`` ("train", "val" or "test"), built on first use."""
        if stage not in self.datasets:
            if not self.specs[stage]:
                raise ValueError(f"data config {self.name!r} has no {stage} datasets")
            if stage == "train":  # augmented per (seed, epoch, index): see sampling.py
                mixture = build_mixture(self.specs[stage], **self.common)
                self.datasets[stage] = EpochAugmented(mixture, self.train_augment, self.seed)
            else:
                self.datasets[stage] = build_mixture(self.specs[stage], transform=to_tensors, **self.common)
        return self.datasets[stage]

    def _replicas(self) -> tuple[int, int]:
        """(world size, this process's rank) from the attached Trainer; (1, 0) without one."""
        trainer = getattr(self, "trainer", None)
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def setup(self, stage: str | None = None) -> None:
        # Building reads file lists (scans roots), so a wrong root fails here, before training starts.
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage or "", ())
        for split in needed:
            if self.specs[split]:
                self.dataset(split)

    def _loader(self, stage: str, batch_size: int) -> DataLoader:
        """Samplers shard over DDP ranks themselves (trainer configs set use_distributed_sampler: false)."""
        dataset = self.dataset(stage)
        replicas, rank = self._replicas()
        if stage == "train":
            sampler = EpochSampler(dataset, replicas, rank, shuffle=True, seed=self.seed, drop_last=True)
            if self.resume_at is not None:
                epoch, batches = self.resume_at
                sampler.resume_at, self.resume_at = (epoch, batches * batch_size), None
        else:
            sampler = ShardSampler(len(dataset), replicas, rank)
        if self.num_workers > 0:
            # Each worker is one core's worth of work, and OpenCV's own thread pool would oversubscribe
            # the CPU. It must be limited here, before the workers fork: changing it inside a forked
            # worker deadlocks on the pool inherited from this process.
            cv2.setNumThreads(1)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=stage == "train",
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=functools.partial(lower_priority, self.worker_niceness),
            collate_fn=collate_samples,
        )

    def state_dict(self) -> dict[str, int]:
        """Where training stands within its epoch, saved in checkpoints so a resumed run continues there.

        Also while validating inside ``fit``: ModelCheckpoint saves there, after each validation.
        """
        trainer = getattr(self, "trainer", None)
        if trainer is None or trainer.state.fn != TrainerFn.FITTING:
            return {}
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"epoch": trainer.current_epoch, "batches": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state:
            self.resume_at = (state["epoch"], state["batches"])

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size)
