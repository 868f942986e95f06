"""Epoch-keyed sampling, so that a resumed run sees exactly the batches an uninterrupted one would.

A default DataLoader draws its shuffle order and its workers' augmentation seeds from the global RNG,
which a resumed process does not restore. Here both are functions of ``(seed, epoch, index)``:

- ``EpochSampler`` shuffles with ``seed + epoch`` (as ``DistributedSampler``, which it extends, so it
  also shards over DDP ranks) and hands out keys ``epoch * len(dataset) + index``;
- ``EpochAugmented`` splits a key back into ``(epoch, index)`` and augments item ``index`` with the
  generator ``sample_rng(seed, index, epoch)``, whichever worker loads it;
- a checkpoint records how many batches of the current epoch were trained on (the DataModule's
  ``state_dict``), and the resumed sampler skips them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import Dataset, DistributedSampler, Sampler

from stereo_attn.data.sample import Sample, to_tensors
from stereo_attn.data.transforms import Compose, sample_rng


class EpochSampler(DistributedSampler):
    """DistributedSampler (``set_epoch``, ``seed``, rank shards) yielding epoch-tagged keys.

    ``resume_at = (epoch, items)`` makes the next pass over that epoch start after its first
    ``items`` keys: the ones a run interrupted mid-epoch had already trained on.
    """

    resume_at: tuple[int, int] | None = None

    def __iter__(self) -> Iterator[int]:
        offset = self.epoch * len(self.dataset)
        keys = [offset + index for index in super().__iter__()]
        if self.resume_at is not None and self.resume_at[0] == self.epoch:
            keys = keys[self.resume_at[1] :]
        self.resume_at = None
        return iter(keys)


class EpochAugmented(Dataset):
    """Item ``index`` of ``dataset`` augmented with its own generator for the key's epoch, as tensors."""

    def __init__(self, dataset: Dataset, augment: Compose, seed: int) -> None:
        self.dataset, self.augment, self.seed = dataset, augment, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int) -> dict[str, Any]:
        epoch, index = divmod(int(key), len(self.dataset))
        sample: Sample = self.dataset[index]
        return to_tensors(self.augment(sample, sample_rng(self.seed, index, epoch)))


class ShardSampler(Sampler[int]):
    """Every ``num_replicas``-th index from ``rank``, in order: each evaluation item on exactly one rank.

    DistributedSampler pads the last shard with repeats, which would count some images twice.
    """

    def __init__(self, size: int, num_replicas: int = 1, rank: int = 0) -> None:
        self.indices = range(rank, size, num_replicas)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
