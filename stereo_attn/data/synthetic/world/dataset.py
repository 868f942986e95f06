"""Rendered stereo pairs of the 3D world as a dataset: pair i of a split depends only on (seed, split, i)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stereo_attn.data.sample import Sample, make_sample
from stereo_attn.data.synthetic.dataset import GeneratedStereo
from stereo_attn.data.synthetic.world.config import WorldConfig
from stereo_attn.data.synthetic.world.layout import random_world
from stereo_attn.data.synthetic.world.photos import PhotoLibrary
from stereo_attn.data.synthetic.world.render import View, World, render_view, visible_in_right
from stereo_attn.data.synthetic.world.sensor import develop, sample_exposures, sample_focus


@dataclass
class RenderedPair:
    """A pair with what made it: the world, and both views' radiance, depth and shapes."""

    world: World
    left: View
    right: View
    sample: Sample  # valid_noc: the left pixels the right camera sees


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
    return RenderedPair(world, left, right, sample)


class WorldStereo(GeneratedStereo):
    """``length`` rendered pairs of one split (see ``GeneratedStereo``); photos from ``config.textures``."""

    options = WorldConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.photos = None
        if self.config.textures is not None:
            self.photos = PhotoLibrary(self.config.textures, cache_bytes=self.config.texture_cache_mb * 2**20)

    def render(self, index: int) -> RenderedPair:
        """Pair ``index`` with the world and views that made it."""
        return render_pair(self.rng(index), self.config, self.photos)

    def generate(self, rng: np.random.Generator) -> Sample:
        return render_pair(rng, self.config, self.photos).sample
