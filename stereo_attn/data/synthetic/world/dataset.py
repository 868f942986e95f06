"""Rendered stereo pairs of the 3D world as a dataset: pair i of a split depends only on (seed, split, i)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stereo_attn.data.sample import Sample, make_sample
from stereo_attn.data.synthetic.scenes import SPLITS
from stereo_attn.data.synthetic.world.config import WorldConfig
from stereo_attn.data.synthetic.world.layout import random_world
from stereo_attn.data.synthetic.world.photos import PhotoLibrary
from stereo_attn.data.synthetic.world.render import View, World, render_view, visible_in_right
from stereo_attn.data.synthetic.world.sensor import develop, sample_exposures, sample_focus


@dataclass
class RenderedPair:
    """A pair with what made it: the world, both views' radiance, depth and shapes, the visibility."""

    world: World
    left: View
    right: View
    visible: np.ndarray  # left pixels seen by the right camera
    sample: Sample


def render_pair(
    rng: np.random.Generator, cfg: WorldConfig, photos: PhotoLibrary | None = None
) -> RenderedPair:
    world = random_world(rng, cfg, photos)
    left, right = render_view(world, "left"), render_view(world, "right")
    visible = visible_in_right(world, left.depth)
    left_exposure, right_exposure = sample_exposures(rng, cfg, left.radiance)
    focus = sample_focus(rng, cfg, left.depth)
    left_image = develop(rng, left.radiance, left.depth, left_exposure, focus)
    right_image = develop(rng, right.radiance, right.depth, right_exposure, focus)
    disparity = world.rig.disparity(left.depth).astype(np.float32)
    meta = {"dataset": "world", "left_path": "", "right_path": ""}
    sample = make_sample(left_image, right_image, disparity, np.isfinite(disparity), meta, valid_noc=visible)
    return RenderedPair(world, left, right, visible, sample)


class WorldStereo(torch.utils.data.Dataset):
    """``length`` rendered pairs of one split; each pair has its own random stream, seeded by
    (seed, split, index), so splits never share a scene and every worker renders the same pair."""

    def __init__(
        self,
        split: str = "train",
        length: int = 1000,
        seed: int = 0,
        config: WorldConfig | dict[str, Any] | None = None,
        transform: Any = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.split, self.length, self.seed = split, length, seed
        self.config = WorldConfig.from_options(config)
        self.transform = transform
        self.photos = None
        if self.config.textures is not None:
            self.photos = PhotoLibrary(self.config.textures, cache_bytes=self.config.texture_cache_mb * 2**20)

    def __len__(self) -> int:
        return self.length

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, SPLITS[self.split], index]))

    def render(self, index: int) -> RenderedPair:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} pairs")
        return render_pair(self.rng(index), self.config, self.photos)

    def __getitem__(self, index: int) -> Any:
        sample = self.render(index).sample
        sample["meta"].update(split=self.split, index=index, seed=self.seed)
        return sample if self.transform is None else self.transform(sample)
