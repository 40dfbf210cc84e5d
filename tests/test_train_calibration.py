"""Calibration metrics on hand-made probabilities, checked against arithmetic done by hand."""

from __future__ import annotations

import math

import pytest

from coassist.train import brier_score, calibration_report, expected_calibration_error, reliability_bins


def test_bins_are_exact() -> None:
    p = [0.05, 0.15, 0.12, 0.55, 0.95, 1.0]
    y = [0, 0, 1, 1, 1, 1]
    bins = reliability_bins(p, y, n_bins=5)
    assert [b.lower for b in bins] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert [b.upper for b in bins] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert [b.count for b in bins] == [3, 0, 1, 0, 2]  # 1.0 falls in the last bin
    assert bins[0].mean_predicted == pytest.approx((0.05 + 0.15 + 0.12) / 3)
    assert bins[0].fraction_positive == pytest.approx(1 / 3)
    assert bins[2].mean_predicted == pytest.approx(0.55) and bins[2].fraction_positive == 1.0
    assert bins[4].mean_predicted == pytest.approx(0.975) and bins[4].fraction_positive == 1.0
    assert math.isnan(bins[1].mean_predicted) and math.isnan(bins[1].fraction_positive)


def test_bin_edges_belong_to_the_upper_bin() -> None:
    assert [b.count for b in reliability_bins([0.0, 0.5, 0.4999], [0, 1, 0], n_bins=2)] == [2, 1]


def test_ece_brier_and_accuracy_by_hand() -> None:
    p = [0.05, 0.15, 0.12, 0.55, 0.95, 1.0]
    y = [0, 0, 1, 1, 1, 1]
    # ECE = sum over bins of (count / n) * |mean p - pass rate|
    expected_ece = 3 / 6 * abs(0.32 / 3 - 1 / 3) + 1 / 6 * abs(0.55 - 1) + 2 / 6 * abs(0.975 - 1)
    assert expected_calibration_error(p, y, n_bins=5) == pytest.approx(expected_ece)
    expected_brier = (0.05**2 + 0.15**2 + 0.88**2 + 0.45**2 + 0.05**2 + 0.0) / 6
    assert brier_score(p, y) == pytest.approx(expected_brier)
    report = calibration_report(p, y, n_bins=5)
    assert report.accuracy == pytest.approx(5 / 6)  # only 0.12 (label 1) is on the wrong side of 0.5
    assert report.base_rate == pytest.approx(4 / 6)
    assert report.ece == pytest.approx(expected_ece) and report.brier == pytest.approx(expected_brier)
    assert "accuracy 0.833" in report.summary()


def test_perfect_and_constant_predictions() -> None:
    assert brier_score([1.0, 0.0], [1, 0]) == 0.0
    assert expected_calibration_error([1.0, 0.0], [1, 0]) == 0.0
    assert brier_score([0.5] * 4, [1, 0, 1, 0]) == 0.25


@pytest.mark.parametrize(
    ("p", "y", "message"),
    [([0.2], [1, 0], "equally long"), ([], [], "non-empty"), ([1.2], [1], r"must lie in \[0, 1\]")],
)
def test_bad_inputs(p, y, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        brier_score(p, y)
