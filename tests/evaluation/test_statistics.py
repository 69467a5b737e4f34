"""Paired t-tests on known data and on summaries."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from gdr_toolkit.evaluation.statistics import compare_summaries, paired_t_test


def test_paired_t_test_matches_hand_computation() -> None:
    a = {"x": 3.0, "y": 5.0, "z": 7.0, "w": 6.0}
    b = {"x": 1.0, "y": 4.0, "z": 4.0, "w": 6.0}
    result = paired_t_test(a, b)
    differences = [2.0, 1.0, 3.0, 0.0]  # mean 1.5, sample std sqrt(5/3)
    t_expected = 1.5 / (math.sqrt(5 / 3) / 2)
    assert result.mean_difference == pytest.approx(1.5)
    assert result.t_statistic == pytest.approx(t_expected)
    assert result.p_value == pytest.approx(2 * stats.t.sf(t_expected, df=3))
    assert (result.n, result.n_unpaired) == (4, 0)
    assert sum(differences) / 4 == result.mean_difference


def test_unpaired_and_non_finite_keys_are_left_out() -> None:
    result = paired_t_test({"a": 1.0, "b": 2.0, "c": None, "d": 5.0}, {"a": 0.0, "b": 0.5, "c": 1.0})
    assert (result.n, result.n_unpaired) == (2, 2)


def test_too_few_pairs_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_t_test({"a": 1.0}, {"a": 2.0})


def test_compare_summaries_pairs_cases_and_lesions() -> None:
    def summary(offset: float) -> dict:
        cases = {
            f"c{index}": {
                "psnr_i": 30.0 + offset + index % 2, "psnr_b": 31.0, "ssim": None, "mae_ce": 0.1,
                "lesions": {"1": {"voxels": 3, "psnr_l": 20.0 + offset * index, "c_bar": 0.5, "c_hat": 0.6}},
            }
            for index in range(4)
        }  # fmt: skip
        return {"methods": {"sd": {"cases": cases}}}

    results = compare_summaries(summary(1.0), "sd", summary(0.0), "sd")
    assert results["psnr_i"].mean_difference == pytest.approx(1.0)
    assert math.isnan(results["psnr_i"].p_value)  # constant differences
    assert results["psnr_l"].n == 4 and results["psnr_l"].mean_difference == pytest.approx(1.5)
    assert results["ssim"] is None
