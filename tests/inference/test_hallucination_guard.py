"""The hallucination guard on synthetic volumes with known truth (1 mm grid, sigma = 0.03, dose 0.25)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, stats

from gdr_toolkit.inference.guard_statistics import benjamini_hochberg, displaced_overlap
from gdr_toolkit.inference.hallucination_guard import (
    NOT_JUDGED,
    SUPPORTED,
    UNSUPPORTED,
    GuardOptions,
    unsupported_enhancement,
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


def run_guard(prediction, subtraction, dose: float | None = DOSE, **masks):
    return unsupported_enhancement(prediction, subtraction, SPACING, dose, **masks)


def test_benjamini_hochberg_step_up_matches_a_hand_computed_case():
    # q = 0.05, m = 5: thresholds 0.01 ... 0.05; sorted p 0.001, 0.025, 0.03, 0.2, 0.5: the largest
    # k with p(k) <= k q / m is 3, so p(2) = 0.025 > 0.02 is rejected too (step-up)
    p_values = np.array([0.2, 0.001, 0.03, 0.025, 0.5])
    np.testing.assert_array_equal(benjamini_hochberg(p_values, 0.05), [False, True, True, True, False])
    assert not benjamini_hochberg(np.array([0.02, 0.04]), 0.01).any()
    assert benjamini_hochberg(np.zeros(0), 0.05).size == 0


def test_predicted_ball_without_ld_support_is_unsupported():
    prediction = blob((20, 20, 20), 4.0, 10 * SIGMA)
    result = run_guard(prediction, noise(1))
    assert len(result.regions) == 1 and result.status == "assessed"
    assert (result.states[prediction > 0] == UNSUPPORTED).all()
    assert result.regions[0].p_value < 1e-6


def test_predicted_ball_carried_by_the_ld_subtraction_is_supported():
    prediction = blob((20, 20, 20), 4.0, 10 * SIGMA)
    result = run_guard(prediction, DOSE * prediction + noise(2))
    assert (result.states[prediction > 0] == SUPPORTED).all()
    assert result.regions[0].dose_response_estimate == pytest.approx(DOSE, abs=0.03)


def test_only_the_hallucinated_one_of_two_balls_is_unsupported():
    real, fake = blob((12, 20, 20), 4.0, 10 * SIGMA), blob((28, 20, 20), 4.0, 10 * SIGMA)
    result = run_guard(real + fake, DOSE * real + noise(3))
    assert (result.states[real > 0] == SUPPORTED).all()
    assert (result.states[fake > 0] == UNSUPPORTED).all()


def test_a_real_lesion_half_as_bright_as_expected_is_not_flagged():
    """The dose response is a lower bound (margin 0.5): LD at 0.6 d x the prediction is still supported."""
    prediction = blob((20, 20, 20), 6.0, 10 * SIGMA)
    result = run_guard(prediction, 0.6 * DOSE * prediction + noise(4))
    assert result.regions[0].state == SUPPORTED
    assert run_guard(prediction, 0.2 * DOSE * prediction + noise(4)).regions[0].state == UNSUPPORTED


def test_p_values_at_the_null_boundary_are_uniform():
    """Regions whose LD carries exactly rho_low = 0.5 d x the prediction: H0's boundary, so the one-sided
    p-values are U(0, 1) and about 5 % lie below 0.05 (white noise; 8 regions x 20 seeds)."""
    shape = (64, 64, 64)
    prediction = sum(
        blob((16 + 32 * i, 16 + 32 * j, 16 + 32 * k), 3.0, 8 * SIGMA, shape)
        for i in range(2)
        for j in range(2)
        for k in range(2)
    )
    options = GuardOptions(min_power_sigmas=0.0, misregistration_voxels=0.0)
    p_values = np.concatenate([
        [test.p_value for test in run_guard(prediction, 0.5 * DOSE * prediction + noise(seed, shape), options=options).regions]
        for seed in range(20)
    ])  # fmt: skip
    assert p_values.size == 160
    assert stats.kstest(p_values, "uniform").pvalue > 0.01
    assert 0.01 < np.mean(p_values < 0.05) < 0.10


def test_displaced_overlap_of_one_voxel_is_the_worst_diagonal_interpolation():
    """q = 1 voxel, shifted by 0.5 voxel: 0.5 along an axis, (1 - 0.5 / sqrt 3)^3 = 0.36 diagonally."""
    single = np.zeros((1, 1, 1)) + 1.0
    assert displaced_overlap(single, single, 0.5) == pytest.approx((1 - 0.5 / np.sqrt(3)) ** 3, rel=1e-6)
    assert displaced_overlap(single, single, 0.0) == 1.0


def test_a_small_real_lesion_misregistered_by_half_a_voxel_is_not_flagged():
    """A 2-voxel-radius real lesion whose LD signal is shifted by 0.5 voxel diagonally, LD at 0.55 d: below
    rho_low = 0.5 d x <w, q> once displaced, but not below 0.5 d x the displaced overlap."""
    prediction = blob((20, 20, 20), 2.0, 30 * SIGMA)
    shifted = ndimage.shift(prediction, [0.5 / np.sqrt(3)] * 3, order=1)
    ld = 0.55 * DOSE * shifted + noise(12) / 10  # little noise: the bias would show
    assert run_guard(prediction, ld).regions[0].state == SUPPORTED
    strict = GuardOptions(misregistration_voxels=0.0)
    assert run_guard(prediction, ld, options=strict).regions[0].state == UNSUPPORTED


def test_a_small_faint_prediction_is_not_judged():
    """A 1 mm, 5 sigma prediction at dose 0.1: a hallucination would lie < 3 noise stds below H0."""
    prediction = blob((20, 20, 20), 1.0, 5 * SIGMA)
    result = run_guard(prediction, noise(6), dose=0.1)
    assert len(result.regions) == 1 and result.regions[0].state == NOT_JUDGED
    assert result.regions[0].power_sigmas < 3.0
    assert result.status == "nothing_assessable" and not result.states.any()


def test_a_small_bright_hallucination_is_judged_by_the_matched_filter():
    """Radius 2 mm (33 voxels) at 10 sigma, dose 0.33: below what 2 mm voxel-wise smoothing could judge at
    dose 0.1, but the matched filter over its 33 voxels has power."""
    prediction = blob((20, 20, 20), 2.0, 10 * SIGMA)
    flagged = [
        run_guard(prediction, noise(seed), dose=0.33).regions[0].state == UNSUPPORTED for seed in range(10)
    ]
    assert all(flagged)


def test_pure_noise_without_prediction_judges_nothing():
    result = run_guard(np.zeros(SHAPE), noise(7))
    assert result.status == "nothing_predicted" and not result.regions and not result.states.any()


def test_correlated_noise_is_measured_and_keeps_supported_regions_supported():
    correlated = ndimage.gaussian_filter(np.random.default_rng(8).normal(0, 1, SHAPE), 1.0)
    correlated *= SIGMA / correlated.std()
    prediction = blob((20, 20, 20), 4.0, 10 * SIGMA)
    result = run_guard(prediction, DOSE * prediction + correlated)
    assert min(result.noise.lag1_correlation) > 0.6  # exp(-1/4) = 0.78 for a std-1 Gaussian smoothing
    assert result.noise.inflation > 3
    white = run_guard(prediction, DOSE * prediction + noise(8)).regions[0]
    assert result.regions[0].power_sigmas < 0.5 * white.power_sigmas  # the correlation costs power
    assert result.regions[0].state != UNSUPPORTED


def test_unknown_dose_is_estimated_from_the_regions():
    real = blob((12, 20, 20), 5.0, 20 * SIGMA) + blob((28, 20, 20), 4.0, 20 * SIGMA)
    result = run_guard(real, 0.4 * real + noise(9), dose=None)
    assert result.dose_response_estimate == pytest.approx(0.4, abs=0.03)
    assert result.dose_response_lower_bound == pytest.approx(0.5 * result.dose_response_estimate)
    assert all(test.state == SUPPORTED for test in result.regions)


def test_regions_mostly_outside_the_data_are_not_judged():
    fake = blob((20, 20, 20), 4.0, 10 * SIGMA)
    data = np.ones(SHAPE, dtype=bool)
    data[:21] = False  # the LD covers z >= 21 only: 40 % of the ball's signal
    result = run_guard(fake, noise(10), data_mask=data)
    assert result.regions[0].data_coverage == pytest.approx(0.4, abs=0.1)
    assert result.regions[0].state == NOT_JUDGED


def test_unreliable_noise_estimate_leaves_every_region_unjudged():
    fake = blob((20, 20, 20), 4.0, 10 * SIGMA)
    brain = np.zeros(SHAPE, dtype=bool)
    brain[12:29, 12:29, 12:29] = True  # the ball and its margin: almost no noise voxels
    result = run_guard(fake, noise(11), brain_mask=brain)
    assert result.status == "not_assessable" and "noise voxels" in (result.reason or "")
    assert not result.states.any() and len(result.regions) == 1


def test_mismatched_shapes_are_refused_with_the_shapes():
    with pytest.raises(ValueError, match="one shape"):
        run_guard(np.zeros(SHAPE), np.zeros((4, 4, 4)))


def test_a_dose_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="dose_response"):
        run_guard(np.zeros(SHAPE), noise(0), dose=1.5)
