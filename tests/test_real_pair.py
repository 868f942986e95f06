"""The real-pair check the demo runs: scores at several sizes, the table and the comparison pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stereo_attn.data.readers.middlebury2006 import Middlebury2006
from stereo_attn.evaluation.real_pair import ERROR_RANGE, real_pair_table, score_real_pair, size_name
from stereo_attn.viz import colorize_error, method_comparison

from helpers.datasets import write_middlebury2006_scene


@pytest.mark.parametrize(
    ("scale", "name"), [(0.5, "1/2"), (0.333333, "1/3"), (0.25, "1/4"), (1.0, "1/1"), (0.4, "0.4")]
)
def test_sizes_are_named_as_fractions_where_they_are_one(scale: float, name: str) -> None:
    assert size_name(scale) == name


class TruthPlus:
    """A predictor returning the ground truth of the pair it is given, shifted by ``offset`` px."""

    def __init__(self, root: Path, scale: float, offset: float) -> None:
        self.truth = Middlebury2006(root, scale=scale)[0]["disparity"]
        self.offset = offset

    def __call__(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        assert left.shape[:2] == self.truth.shape
        return self.truth + self.offset


def test_each_size_is_scored_densely_per_method_with_known_errors(tmp_path: Path) -> None:
    write_middlebury2006_scene(tmp_path, size=(40, 60))
    summaries, pictures = {}, {}
    for scale in (0.5, 0.25):
        methods = {"exact": TruthPlus(tmp_path, scale, 0.0), "off by 3": TruthPlus(tmp_path, scale, 3.0)}
        scored, drawn = score_real_pair(tmp_path, [scale], methods, max_disparity=8.0)
        summaries.update(scored)
        pictures.update(drawn)
    assert list(summaries) == ["1/2", "1/4"]
    for size in ("1/2", "1/4"):
        exact, off = summaries[size]["exact"], summaries[size]["off by 3"]
        assert exact["epe"] == 0 and exact["bad2"] == 0 and exact["images"] == 1
        assert off["epe"] == pytest.approx(3.0) and off["bad2"] == 100
    assert set(pictures) == {"1/2", "1/4"}
    assert pictures["1/2"].shape[1] == 3 * 30 and pictures["1/4"].shape[1] == 3 * 15


def test_scores_count_every_pixel_with_ground_truth_even_beyond_the_range(tmp_path: Path) -> None:
    write_middlebury2006_scene(tmp_path, size=(40, 60))
    sample = Middlebury2006(tmp_path)[0]
    far = sample["valid"] & (sample["disparity"] >= 8.0)
    assert far.any()

    def wrong_where_far(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return sample["disparity"] + 4.0 * far

    scored, _ = score_real_pair(tmp_path, [1.0], {"m": wrong_where_far}, max_disparity=8.0)
    expected = 100 * far.sum() / sample["valid"].sum()
    assert scored["1/1"]["m"]["bad2"] == pytest.approx(expected)


def test_the_picture_shows_each_method_over_its_error_next_to_left_and_truth(tmp_path: Path) -> None:
    write_middlebury2006_scene(tmp_path, size=(40, 60))
    methods = {"exact": TruthPlus(tmp_path, 1.0, 0.0), "off by 3": TruthPlus(tmp_path, 1.0, 3.0)}
    _, pictures = score_real_pair(tmp_path, [1.0], methods, max_disparity=8.0)
    picture = pictures["1/1"]
    assert picture.dtype == np.uint8 and picture.shape[1] == 3 * 60  # left/truth, then two methods
    sample = Middlebury2006(tmp_path)[0]
    assert picture.shape[0] > 2 * 40  # two tiles per column, each under a label strip
    # Both error maps share one colour scale: the bottom-right tile is the off-by-3 error map.
    bottom = picture[-40:]
    np.testing.assert_array_equal(
        bottom[:, 120:], colorize_error(np.full((40, 60), 3.0), ERROR_RANGE, sample["valid"])
    )
    np.testing.assert_array_equal(
        bottom[:, 60:120], colorize_error(np.zeros((40, 60)), ERROR_RANGE, sample["valid"])
    )


def test_method_comparison_has_a_column_per_method_after_the_reference() -> None:
    rng = np.random.default_rng(0)
    target = rng.uniform(1, 20, (12, 16)).astype(np.float32)
    sample = {"left": rng.uniform(0, 1, (12, 16, 3)), "disparity": target, "valid": target > 5}
    picture = method_comparison(sample, {"a": target, "b": target + 1, "c": target - 1}, max_error=4.0)
    assert picture.shape[1] == 4 * 16


def test_the_table_has_a_row_per_size_and_methods_side_by_side() -> None:
    summary = {"epe": 1.234, "bad2": 12.34}
    table = real_pair_table({"1/2": {"model": summary, "StereoSGBM": {"epe": 2.0, "bad2": 20.0}}})
    lines = table.splitlines()
    assert lines[0] == "| size | model EPE | StereoSGBM EPE | model bad-2 (%) | StereoSGBM bad-2 (%) |"
    assert lines[2] == "| 1/2 | 1.234 | 2.000 | 12.3 | 20.0 |"
