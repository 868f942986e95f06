"""What the generators' datasets share: ``length`` pairs of a split, pair i made from (seed, split, i).

Each pair has its own random stream, seeded by (seed, split, index): splits never share a scene, and
pair i is the same on every machine and in every DataLoader worker.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from stereo_attn.data.sample import Sample
from stereo_attn.data.synthetic.options import GeneratorOptions

SPLITS = {"train": 0, "val": 1, "test": 2}


class GeneratedStereo(torch.utils.data.Dataset):
    """Subclasses name their options class and make one sample from a random stream (``generate``)."""

    options: ClassVar[type[GeneratorOptions]]

    def __init__(
        self,
        split: str = "train",
        length: int = 1000,
        seed: int = 0,
        config: GeneratorOptions | dict[str, Any] | None = None,
        transform: Any = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.split, self.length, self.seed = split, length, seed
        self.config = self.options.from_options(config)
        self.transform = transform

    def __len__(self) -> int:
        return self.length

    def rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} pairs")
        return np.random.default_rng(np.random.SeedSequence([self.seed, SPLITS[self.split], index]))

    def generate(self, rng: np.random.Generator) -> Sample:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        sample = self.generate(self.rng(index))
        sample["meta"].update(split=self.split, index=index, seed=self.seed)
        return sample if self.transform is None else self.transform(sample)
