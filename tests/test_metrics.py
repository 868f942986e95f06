"""Metrics against hand-computed values on tiny maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stereo_attn.evaluation.metrics import METRICS, MetricTotals, error_sums


def metrics_of(prediction, target, mask) -> dict[str, float]:
    totals = MetricTotals()
    totals.update(prediction, target, mask)
    return totals.compute()


def test_metrics_on_a_hand_computed_example() -> None:
    target = np.array([[10.0, 100.0, 50.0, 4.0]])
    prediction = np.array([[10.5, 104.0, 52.5, 40.0]])  # errors 0.5, 4, 2.5, 36
    mask = np.array([[True, True, True, False]])  # the 36 px error is not counted
    result = metrics_of(prediction, target, mask)
    assert result["epe"] == pytest.approx(7.0 / 3)
    assert result["bad1"] == pytest.approx(200 / 3)  # 4 and 2.5
    assert result["bad2"] == pytest.approx(200 / 3)
    assert result["bad3"] == pytest.approx(100 / 3)  # 4
    # D1: > 3 px AND > 5 % of gt: 4 px at gt 100 is under 5 px, so nothing counts.
    assert result["d1"] == 0.0


def test_d1_needs_both_conditions() -> None:
    target = torch.tensor([20.0, 200.0, 20.0])
    prediction = torch.tensor([24.0, 204.0, 22.0])  # 4 px: > 5 % of 20, < 5 % of 200; 2 px: under 3
    assert metrics_of(prediction, target, torch.ones(3, dtype=torch.bool))["d1"] == pytest.approx(100 / 3)


def test_totals_weight_every_pixel_once() -> None:
    totals = MetricTotals()
    totals.update(np.array([1.0]), np.array([0.0]), np.array([True]))  # one pixel, error 1
    totals.update(np.full(3, 3.0), np.zeros(3), np.ones(3, bool))  # three pixels, error 3
    assert totals.compute()["epe"] == pytest.approx(10 / 4)  # not the mean of per-image EPEs (2.0)


def test_empty_mask_gives_nan_and_mismatched_shapes_an_error() -> None:
    empty = metrics_of(np.ones(2), np.ones(2), np.zeros(2, bool))
    assert list(empty) == list(METRICS) and all(math.isnan(value) for value in empty.values())
    with pytest.raises(ValueError, match="shapes differ"):
        error_sums(np.ones(2), np.ones(3), np.ones(2, bool))
