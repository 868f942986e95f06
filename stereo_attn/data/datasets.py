"""Datasets by name from a spec, and mixtures of them: what training, evaluation and users build.

A dataset spec is a dict: ``name`` (a key of ``DATASETS``) plus that reader's arguments, and optionally
``repeat`` (how many times it appears in a mixture, to weight small datasets) and ``limit`` (an evenly
spaced subset, e.g. for quick validation). Specs without ``root`` use the caller's ``root``, so
``data=sceneflow data.root=/datasets/SceneFlow`` is all a single-dataset config needs.

Kept apart from the LightningDataModule so that evaluation and inference do not import Lightning
(2 s of start-up per script).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import ConcatDataset, Dataset, Subset

from stereo_attn.data.readers.eth3d import ETH3D
from stereo_attn.data.readers.folder import StereoFolder
from stereo_attn.data.readers.kitti import Kitti2012, Kitti2015
from stereo_attn.data.readers.middlebury import Middlebury2014
from stereo_attn.data.readers.middlebury2006 import Middlebury2006
from stereo_attn.data.readers.sceneflow import SceneFlow
from stereo_attn.data.sample import Sample
from stereo_attn.data.synthetic.scenes import SyntheticStereo
from stereo_attn.data.synthetic.world.dataset import WorldStereo

DATASETS: dict[str, Callable[..., Dataset]] = {
    "synthetic": SyntheticStereo,
    "world": WorldStereo,
    "sceneflow": SceneFlow,
    "kitti2015": Kitti2015,
    "kitti2012": Kitti2012,
    "middlebury": Middlebury2014,
    "middlebury2006": Middlebury2006,
    "eth3d": ETH3D,
    "folder": StereoFolder,
}


def build_dataset(
    spec: Mapping[str, Any],
    transform: Callable[[Sample], Any] | None = None,
    root: str | None = None,
    synthetic: Mapping[str, Any] | None = None,
) -> Dataset:
    """One dataset from its spec; ``root`` and ``synthetic`` ({seed, generator}) fill what the spec omits."""
    options = dict(spec)
    name = options.pop("name", None)
    if name not in DATASETS:
        raise ValueError(f"dataset spec {dict(spec)} needs name: one of {sorted(DATASETS)}")
    repeat, limit = int(options.pop("repeat", 1)), options.pop("limit", None)
    if name in ("synthetic", "world"):  # the generators: their options, no root
        defaults = dict(synthetic or {})
        options.setdefault("seed", defaults.get("seed", 0))
        options.setdefault("config", defaults.get("generator"))
    else:
        options.setdefault("root", root)
        if options["root"] is None:
            raise ValueError(
                f"dataset {name!r} has no root: set data.root=/path/to/{name} or a root in its spec"
            )
    try:
        dataset = DATASETS[name](**options, transform=transform)
    except TypeError as error:  # an option the reader does not take
        raise ValueError(f"dataset {name!r}: {error}") from None
    if limit is not None and int(limit) < len(dataset):
        dataset = Subset(dataset, np.linspace(0, len(dataset) - 1, int(limit)).round().astype(int).tolist())
    return dataset if repeat == 1 else ConcatDataset([dataset] * repeat)


def build_mixture(specs: Sequence[Mapping[str, Any]], **kwargs: Any) -> Dataset:
    """Several specs as one dataset (ConcatDataset); a single spec as itself."""
    if not specs:
        raise ValueError("no dataset specs given")
    datasets = [build_dataset(spec, **kwargs) for spec in specs]
    return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)
