"""StereoSGBM's best setting on real pairs: the classical yardstick a learned model must beat there.

Every combination of block size, uniqueness ratio and speckle window is scored densely (every pixel
with ground truth, holes filled as everywhere in the project) at each size, and the best by EPE and by
bad-2 are reported next to the project's default setting. The choice is made on the very pairs it is
scored on, so the figures are an optimistic yardstick, not a fair method's result.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stereo_attn import options
from stereo_attn.data.readers.middlebury2006 import Middlebury2006
from stereo_attn.data.writers import markdown_table, write_json_atomic
from stereo_attn.evaluation.evaluate import evaluate
from stereo_attn.evaluation.protocols import PROTOCOLS
from stereo_attn.evaluation.real_pair import size_name
from stereo_attn.evaluation.sgbm import sgbm_predictor

DEFAULT_SETTING = {"block_size": 5, "uniqueness": 10, "speckle_window": 100}  # sgbm_predictor's defaults
METRICS = ("epe", "bad1", "bad2", "bad3")


def covering_range(samples: list[dict[str, Any]]) -> int:
    """The smallest multiple of 16 above every ground-truth disparity of the samples."""
    largest = max(float(s["disparity"].max()) for s in samples)  # 0 where there is no ground truth
    return 16 * math.floor(largest / 16 + 1)


def setting_name(setting: dict[str, int]) -> str:
    block, uniqueness, speckle = setting["block_size"], setting["uniqueness"], setting["speckle_window"]
    return f"block {block}, uniqueness {uniqueness}, speckle {speckle}"


def score_settings(
    samples: list[dict[str, Any]], settings: list[dict[str, int]], max_disparity: int
) -> list[dict[str, Any]]:
    """Each setting's dense summary over the samples: the setting with epe, bad1, bad2, bad3."""
    methods = {
        setting_name(s): sgbm_predictor(max_disparity, s["block_size"], s["uniqueness"], s["speckle_window"])
        for s in settings
    }
    _, summaries = evaluate(samples, methods, PROTOCOLS["aloe"], max_disparity, len(samples))
    return [{**s, **{m: float(summaries[setting_name(s)][m]) for m in METRICS}} for s in settings]


def sweep(
    root: str,
    scales: list[float],
    block_sizes: list[int],
    uniqueness_ratios: list[int],
    speckle_windows: list[int],
    max_disparity: int | None,
) -> dict[str, Any]:
    """Per size: every setting's scores, the search range used, and the best setting by EPE and by bad-2."""
    grid = [
        {"block_size": b, "uniqueness": u, "speckle_window": s}
        for b, u, s in itertools.product(block_sizes, uniqueness_ratios, speckle_windows)
    ]
    if DEFAULT_SETTING not in grid:
        grid.append(dict(DEFAULT_SETTING))
    sizes = {}
    for scale in scales:
        dataset = Middlebury2006(root, scale=scale)
        samples = [dataset[i] for i in range(len(dataset))]
        search = max_disparity if max_disparity is not None else covering_range(samples)
        records = score_settings(samples, grid, search)
        sizes[size_name(scale)] = {
            "scale": scale,
            "pairs": len(samples),
            "max_disparity": search,
            "settings": records,
            "best_epe": min(records, key=lambda r: r["epe"]),
            "best_bad2": min(records, key=lambda r: r["bad2"]),
            "default": next(r for r in records if all(r[k] == v for k, v in DEFAULT_SETTING.items())),
        }
    return sizes


def summary_table(sizes: dict[str, Any]) -> str:
    """Per size: the best setting by EPE, by bad-2, and the project's default, with their scores."""
    headers = ["size", "SGBM setting", "block", "uniqueness", "speckle", "range"]
    headers += ["EPE", "bad-1 (%)", "bad-2 (%)"]
    titles = {"best_epe": "best EPE", "best_bad2": "best bad-2", "default": "project default"}
    rows = []
    for size, found in sizes.items():
        for label, title in titles.items():
            r = found[label]
            setting = [r["block_size"], r["uniqueness"], r["speckle_window"], found["max_disparity"]]
            rows.append([size, title, *setting, f"{r['epe']:.3f}", f"{r['bad1']:.1f}", f"{r['bad2']:.1f}"])
    return markdown_table(headers, rows)


def _integer_list(value: Any, name: str, lowest: int) -> list[int]:
    """A non-empty list of integers >= ``lowest`` (0 or 1), or a one-line OptionError."""
    if not isinstance(value, list) or not value or not all(type(v) is int and v >= lowest for v in value):
        expected = "non-negative" if lowest == 0 else "positive"
        raise options.OptionError(f"{name}={value!r}: expected a non-empty list of {expected} integers")
    return value


def run(cfg: DictConfig) -> dict[str, Any]:
    """scripts/bench_sgbm.py: check every option, sweep, print the table, write the JSON."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    root = options.path(settings["real_pair"], "real_pair")
    if not root.is_dir():
        raise options.OptionError(f"real_pair={root}: not a folder of Middlebury 2006 pairs")
    scales = settings["scales"]
    if (
        not isinstance(scales, list)
        or not scales
        or not all(isinstance(s, int | float) and not isinstance(s, bool) and 0 < s <= 1 for s in scales)
    ):
        raise options.OptionError(f"scales={scales!r}: expected a non-empty list of numbers in (0, 1]")
    block_sizes = _integer_list(settings["block_sizes"], "block_sizes", lowest=1)
    if any(b % 2 == 0 for b in block_sizes):
        raise options.OptionError(f"block_sizes={block_sizes}: StereoSGBM needs odd block sizes")
    uniqueness = _integer_list(settings["uniqueness_ratios"], "uniqueness_ratios", lowest=0)
    speckle = _integer_list(settings["speckle_windows"], "speckle_windows", lowest=0)
    max_disparity = settings["max_disparity"]
    if max_disparity is not None and (type(max_disparity) is not int or max_disparity < 16):
        raise options.OptionError(f"max_disparity={max_disparity!r}: expected null or an integer >= 16")
    output = options.path(settings["output"], "output")
    if output.suffix.lower() != ".json" or output.is_dir():
        raise options.OptionError(f"output={output}: expected the path of a .json file")
    sizes = sweep(str(root), scales, block_sizes, uniqueness, speckle, max_disparity)
    print(summary_table(sizes))
    write_json_atomic(output, {"sizes": sizes, "settings": settings})
    print(f"wrote {output}")
    return sizes
