"""The hallucination guard on synthetic volumes with known truth (1 mm grid, sigma_LD = 0.03, dose 0.25)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from gdr_toolkit.inference.hallucination_guard import (
    GuardOptions,
    gaussian_kernels,
    guard_summary,
    normalised_smoothing,
    unsupported_enhancement,
    white_noise_factor,
)

SIGMA = 0.03
DOSE = 0.25
SPACING = (1.0, 1.0, 1.0)
SHAPE = (40, 40, 40)


def blob(centre: tuple[int, int, int], radius_mm: float, amplitude: float, shape=SHAPE) -> np.ndarray:
    """A ball of ``amplitude`` (float64) on a 1 mm grid."""
    grid = np.indices(shape, dtype=np.float64)
    distance = np.sqrt(sum((axis - c) ** 2 for axis, c in zip(grid, centre, strict=True)))
    return np.where(distance <= radius_mm, amplitude, 0.0)


def noise(seed: int, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, SIGMA, shape)


def run_guard(prediction: np.ndarray, ld_subtraction: np.ndarray, dose: float | None = DOSE):
    local_std = np.full(prediction.shape, SIGMA)
    return unsupported_enhancement(prediction, ld_subtraction, local_std, SIGMA, SPACING, dose)


def test_white_noise_std_of_the_smoothing_matches_smoothed_white_noise():
    kernels = gaussian_kernels(2.0, SPACING)
    smoothed, white = normalised_smoothing(np.random.default_rng(0).normal(0.0, 1.0, (64, 64, 64)), kernels)
    assert np.std(smoothed[8:-8, 8:-8, 8:-8]) == pytest.approx(white_noise_factor(kernels), rel=0.05)
    assert white_noise_factor(kernels) == pytest.approx(1 / (2 * math.sqrt(math.pi) * 2.0) ** 1.5, rel=0.02)
    assert np.std(smoothed[0, :, :] / white[0, :, :]) == pytest.approx(1.0, rel=0.1)  # exact at the border


def test_smoothing_is_isotropic_in_mm_on_an_anisotropic_grid():
    kernels = gaussian_kernels(2.0, (4.0, 1.0, 0.5))
    assert [len(kernel) for kernel in kernels] == [5, 13, 25]  # radius round(3 std)
    assert all(kernel.sum() == pytest.approx(1.0) for kernel in kernels)


def test_predicted_blob_without_ld_support_is_flagged():
    prediction = blob((20, 20, 20), 4.0, 10 * SIGMA)
    result = run_guard(prediction, noise(1))
    assert result.predicted.sum() == (prediction > 0).sum()
    assert result.unsupported.sum() >= 0.95 * result.predicted.sum()


def test_predicted_blob_carried_by_the_ld_subtraction_is_not_flagged():
    prediction = blob((20, 20, 20), 4.0, 10 * SIGMA)
    result = run_guard(prediction, DOSE * prediction + noise(2))
    assert result.assessable.sum() >= 0.95 * result.predicted.sum()
    assert result.unsupported.sum() == 0


def test_only_the_hallucinated_one_of_two_blobs_is_flagged():
    real, fake = blob((12, 20, 20), 4.0, 10 * SIGMA), blob((28, 20, 20), 4.0, 10 * SIGMA)
    result = run_guard(real + fake, DOSE * real + noise(3))
    assert not (result.unsupported & (real > 0)).any()
    assert result.unsupported.sum() >= 0.95 * (fake > 0).sum()


def test_pure_noise_without_prediction_flags_nothing():
    result = run_guard(np.zeros(SHAPE), noise(4))
    assert not result.predicted.any()
    assert not result.unsupported.any()


def test_false_flag_rate_at_the_power_limit_is_about_phi_of_minus_z():
    """Supported signal whose expectation sits exactly at the assessability limit (k + z) sigma_O: the
    guard flags a voxel with probability Phi(-z) = 1 % (weaker signal is not assessed, stronger less).
    Dose 0.05, so that the signal at the limit is also above the 4 sigma_LD predicted-enhancement level."""
    options, dose = GuardOptions(), 0.05
    sigma_smoothed = SIGMA * white_noise_factor(gaussian_kernels(2.0, SPACING))
    limit = (options.support_sigmas + options.power_sigmas) * sigma_smoothed * 1.0001
    prediction = np.full((48, 48, 48), limit / dose)
    rates = [
        run_guard(prediction, dose * prediction + noise(seed, prediction.shape), dose).unsupported.mean()
        for seed in range(6)
    ]
    assert prediction.min() > options.signal_sigmas * SIGMA  # all of it is predicted enhancement
    assert 0.001 < np.mean(rates) < 0.015  # Phi(-2.326) = 0.010 (measured 0.004 over 12 seeds)


def test_strong_supported_signal_has_no_false_flags():
    prediction = np.full(SHAPE, 10 * SIGMA)
    assert not run_guard(prediction, DOSE * prediction + noise(5)).unsupported.any()


def test_weak_small_prediction_is_not_assessable_and_not_flagged():
    """A 1 mm, 5 sigma prediction at dose 0.1 implies less LD signal than the smoothed noise can show."""
    prediction = blob((20, 20, 20), 1.0, 5 * SIGMA)
    result = run_guard(prediction, noise(6), dose=0.1)
    assert result.predicted.any()
    assert not result.assessable.any()
    assert not result.unsupported.any()


def test_correlated_noise_raises_the_measured_noise_level():
    correlated = ndimage.gaussian_filter(np.random.default_rng(7).normal(0, 1, SHAPE), 1.5)
    correlated *= SIGMA / correlated.std()
    prediction = blob((20, 20, 20), 4.0, 10 * SIGMA)
    result = run_guard(prediction, DOSE * prediction + correlated)
    assert result.noise_inflation > 2
    assert not result.unsupported.any()


def test_unknown_dose_is_estimated_from_the_supported_enhancement():
    prediction = blob((20, 20, 20), 5.0, 20 * SIGMA)
    result = run_guard(prediction, 0.4 * prediction + noise(8), dose=None)
    assert result.dose_response == pytest.approx(0.4 * 0.85, rel=0.25)  # smoothing lowers O/E at the rim
    assert not result.unsupported.any()


def test_summary_reports_volumes_fractions_and_largest_region_first():
    big, small = blob((12, 20, 20), 5.0, 10 * SIGMA), blob((30, 20, 20), 3.0, 10 * SIGMA)
    real = blob((20, 8, 8), 4.0, 10 * SIGMA)
    prediction = big + small + real
    result = run_guard(prediction, DOSE * real + noise(9))
    summary = guard_summary(result, prediction, voxel_volume_ml=0.001)
    assert summary["unsupported_ml"] == pytest.approx(result.unsupported.sum() * 0.001)
    expected_fraction = ((big + small) > 0).sum() / (prediction > 0).sum()
    assert summary["unsupported_fraction"] == pytest.approx(expected_fraction, abs=0.03)
    assert summary["unsupported_regions"] == 2
    assert summary["regions"][0]["centre_voxel_zyx"] == [12, 20, 20]
    assert summary["regions"][1]["centre_voxel_zyx"] == [30, 20, 20]


def test_mismatched_shapes_are_refused_with_the_shapes():
    with pytest.raises(ValueError, match="one shape"):
        run_guard(np.zeros(SHAPE), np.zeros((4, 4, 4)))
