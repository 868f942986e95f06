"""The built-in generators by name: ``synthetic`` (flat layers, scenes.py) and ``world`` (the 3D world).

A data config names one (``data.name``) and gives its options and seed under ``data.synthetic``.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from stereo_attn.data.synthetic.options import GeneratorOptions
from stereo_attn.data.synthetic.scenes import SyntheticConfig, SyntheticStereo
from stereo_attn.data.synthetic.world.config import WorldConfig
from stereo_attn.data.synthetic.world.dataset import WorldStereo

GENERATORS: dict[str, tuple[type[GeneratorOptions], type[Dataset]]] = {
    "synthetic": (SyntheticConfig, SyntheticStereo),
    "world": (WorldConfig, WorldStereo),
}


def generator_dataset(
    config: GeneratorOptions, split: str, length: int, seed: int, transform: Any = None
) -> Dataset:
    """The dataset of the generator whose options ``config`` is."""
    for options_class, dataset_class in GENERATORS.values():
        if type(config) is options_class:
            return dataset_class(split, length, seed, config, transform)
    raise TypeError(f"{type(config).__name__} is not the options of a built-in generator")


def synthetic_from_config(cfg: Any) -> tuple[GeneratorOptions, int]:
    """The generator options and seed a composed script config asks for (``data.name`` picks the
    generator, ``data.synthetic`` gives them), checked."""
    data = cfg.get("data")
    name = data.get("name") if data is not None else None
    if name not in GENERATORS:
        raise ValueError(f"data.name={name}: expected a built-in generator, one of {', '.join(GENERATORS)}")
    synthetic = data.get("synthetic")
    if synthetic is None or not hasattr(synthetic, "get"):
        raise ValueError(f"data.synthetic={synthetic}: expected {{seed: N, generator: {{...}}}}")
    seed = synthetic.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"data.synthetic.seed={seed}: expected an integer >= 0")
    generator = synthetic.get("generator")
    if generator is not None and hasattr(generator, "items"):
        generator = {key: value for key, value in generator.items()}
    return GENERATORS[name][0].from_options(generator), seed
