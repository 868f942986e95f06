"""scripts/ablate_attention.py's job: run what is missing, then the JSON, the table and the plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stereo_attn import options
from stereo_attn.bench.ablation import collect, run_variants, summarize, table
from stereo_attn.bench.plot import Point, scatter_panel, side_by_side
from stereo_attn.data.io import write_image
from stereo_attn.data.writers import write_json_atomic, write_text_atomic


def _overrides(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise options.OptionError(f"{name}={value!r}: expected a list of Hydra overrides (strings)")
    return value


def _named_overrides(value: Any, name: str) -> dict[str, list[str]]:
    if not isinstance(value, Mapping) or not value:
        raise options.OptionError(f"{name}: expected a mapping from names to lists of overrides")
    return {key: _overrides(overrides, f"{name}.{key}") for key, overrides in value.items()}


def error_plot(rows: Sequence[Mapping[str, Any]], evaluations: Sequence[str]) -> np.ndarray:
    """One panel per evaluation: mean EPE (bars: the seeds' spread) against inference seconds."""
    panels = []
    for name in evaluations:
        points = [
            Point(row["variant"], row["inference_seconds"], *row[f"{name}/epe"])
            for row in rows
            if "inference_seconds" in row
        ]
        panels.append(scatter_panel(points, f"{name}: EPE (px)", "inference s at 544x960"))
    return side_by_side(panels)


def run(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Train and evaluate the missing runs, summarize all finished ones, write the outputs."""
    folder = options.path(settings["folder"], "folder")
    variants = _named_overrides(settings["variants"], "variants")
    evaluations = _named_overrides(settings["evaluations"], "evaluations")
    seeds = settings["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int for s in seeds):
        raise options.OptionError(f"seeds={seeds!r}: expected a non-empty list of integers")
    only = settings["only"] if settings["only"] is not None else list(variants)
    unknown = [name for name in _overrides(only, "only") if name not in variants]
    if unknown:
        raise options.OptionError(f"only: unknown variants {unknown}; expected among {list(variants)}")
    output = options.path(settings["output"], "output")
    if output.suffix.lower() != ".json":
        raise options.OptionError(f"output={output}: expected the path of a .json file")
    train = _overrides(settings["train"], "train")
    data_root = options.path(settings["data_root"], "data_root")
    if not data_root.is_dir():
        raise options.OptionError(
            f"data_root={data_root}: not a folder; write the pairs with make_synthetic.py"
        )

    run_variants(folder, {name: variants[name] for name in only}, seeds, train, evaluations)
    results = collect(folder, variants, seeds, list(evaluations), settings["timing"])
    if not results["runs"]:
        raise options.OptionError(f"folder={folder}: no finished runs to summarize")
    rows = summarize(results)
    text = table(rows, list(evaluations))
    print(text)
    write_json_atomic(output, {**results, "summary": rows, "settings": settings})
    write_text_atomic(output.with_suffix(".md"), text + "\n")
    written = [output, output.with_suffix(".md")]
    if settings["timing"] is not None:
        write_image(output.with_suffix(".png"), error_plot(rows, list(evaluations)))
        written.append(output.with_suffix(".png"))
    print("wrote " + ", ".join(map(str, written)))
    return rows
