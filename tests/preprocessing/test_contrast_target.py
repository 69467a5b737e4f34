"""Tests of eq. 2, gamma and the inverse of eq. 1 (gdr_toolkit.preprocessing.contrast_target)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdr_toolkit.preprocessing.contrast_target import (
    contrast_mask_parameters,
    contrast_target,
    gamma_statistic,
    reduce_gamma,
    revert_noise_normalisation,
)
from gdr_toolkit.preprocessing.noise import estimate_local_statistics, estimate_noise_sigma, normalise_noise

SIZE = 56
SPACING_XYZ_MM = (2.0, 2.0, 2.0)


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


@pytest.mark.parametrize("sigma_ld", [0.01, 0.05, 1.0, 37.0])
def test_eq2_constants(sigma_ld: float) -> None:
    parameters = contrast_mask_parameters(sigma_ld)
    # Closed forms: w sigma = 2 ln(99) / 3 = 3.06341, b0 = -5 ln(99) / 3 = -7.65853
    # (documentation/method.md: ~3.0637, ~-7.659).
    assert parameters.slope * sigma_ld == pytest.approx(2 * math.log(99) / 3, rel=1e-12)
    assert parameters.offset == pytest.approx(-5 * math.log(99) / 3, rel=1e-12)
    assert parameters.slope * sigma_ld == pytest.approx(3.0637, abs=5e-4)
    assert parameters.offset == pytest.approx(-7.659, abs=5e-4)
    assert _sigmoid(parameters.slope * sigma_ld + parameters.offset) == pytest.approx(0.01, abs=1e-12)
    assert _sigmoid(parameters.slope * 4 * sigma_ld + parameters.offset) == pytest.approx(0.99, abs=1e-12)
    field = np.array([sigma_ld, 4 * sigma_ld], dtype=np.float32).reshape(1, 1, 2)
    np.testing.assert_allclose(contrast_target(field, sigma_ld).probability.ravel(), [0.01, 0.99], atol=1e-6)


def test_target_is_mask_times_subtraction_and_mask_is_a_probability() -> None:
    rng = np.random.default_rng(0)
    subtraction = (rng.standard_normal((8, 9, 10)) * 0.1).astype(np.float32)
    subtraction[0, 0, :3] = [-1e30, 1e30, 0.0]  # extreme values must not overflow the sigmoid
    target = contrast_target(subtraction, 0.05)
    assert target.probability.dtype == np.float32 and target.signal.dtype == np.float32
    assert np.all((target.probability >= 0) & (target.probability <= 1))
    np.testing.assert_allclose(target.signal, target.probability * subtraction, rtol=1e-6)
    assert target.probability[0, 0, 0] == 0.0 and target.probability[0, 0, 1] == 1.0


def test_sd_derived_inputs_are_required() -> None:
    with pytest.raises(
        ValueError, match="normalised_subtraction_sd is None: it is derived from the standard-dose"
    ):
        contrast_target(None, 0.05)
    with pytest.raises(ValueError, match="local_std_sd is None"):
        gamma_statistic(np.ones((2, 2, 2), bool), np.ones((2, 2, 2)), None)


def test_gamma_reducer_is_the_mean_of_per_case_ratios() -> None:
    brain = np.zeros((4, 4, 4), dtype=bool)
    brain[1:3, 1:3, 1:3] = True
    local_std_ld = np.full(brain.shape, 2.0)
    local_std_ld[~brain] = 100.0  # outside the brain must not count
    ratios = [gamma_statistic(brain, local_std_ld, local_std_ld * factor) for factor in (1.5, 2.0, 4.0)]
    np.testing.assert_allclose(ratios, [1.5, 2.0, 4.0])
    assert reduce_gamma(ratios) == pytest.approx(np.mean([1.5, 2.0, 4.0]))
    with pytest.raises(ValueError, match="statistics is empty"):
        reduce_gamma([])
    with pytest.raises(ValueError, match=r"statistics\[1\] must be a finite number > 0, got nan"):
        reduce_gamma([1.0, float("nan")])


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="noise_sigma_ld must be a finite number > 0, got -1"):
        contrast_mask_parameters(-1)
    with pytest.raises(ValueError, match="brain_mask is empty"):
        gamma_statistic(np.zeros((2, 2, 2), bool), np.ones((2, 2, 2)), np.ones((2, 2, 2)))
    bad = np.ones((2, 2, 2))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="prediction holds 1 NaN"):
        revert_noise_normalisation(bad, np.ones((2, 2, 2)), 1.0, 1.0)
    with pytest.raises(ValueError, match="local_std_ld is None"):
        revert_noise_normalisation(np.ones((2, 2, 2)), None, 1.0, 1.0)
    with pytest.raises(ValueError, match="gamma must be a finite number > 0, got 0"):
        revert_noise_normalisation(np.ones((2, 2, 2)), np.ones((2, 2, 2)), 1.0, 0)


def test_without_noise_normalisation_the_revert_is_the_identity() -> None:
    prediction = np.random.default_rng(1).random((3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(
        revert_noise_normalisation(prediction, None, 0.1, 2.0, noise_normalised=False), prediction
    )


def _synthetic_case(seed: int, sigma_ld: float, sd_noise_factor: float, dose: float = 0.3) -> dict:
    """Known contrast c; LD = dose c + noise, SD = c + noise; both with one spatially varying std field."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(SIZE) - SIZE / 2 + 0.5] * 3, indexing="ij")
    radius = np.sqrt(z**2 + y**2 + x**2) / 26.0
    brain = radius < 1
    contrast = np.zeros(brain.shape)
    for centre in rng.uniform(-15, 15, size=(10, 3)):
        distance = np.sqrt((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2)
        contrast = np.maximum(contrast, 12 * sigma_ld * np.clip(1.2 - distance / 3.0, 0.0, 1.0))
    contrast *= brain
    field = np.exp(0.35 * x / 26.0) * (1 + 0.2 * np.sin(y / 10.0))
    ld = dose * contrast + sigma_ld * field * rng.standard_normal(brain.shape)
    sd = contrast + sd_noise_factor * sigma_ld * field * rng.standard_normal(brain.shape)
    return {"brain": brain, "contrast": contrast, "ld": ld.astype(np.float32), "sd": sd.astype(np.float32)}


def _preprocess(case: dict) -> dict:
    brain = case["brain"]
    sigma_ld = estimate_noise_sigma(case["ld"], brain)
    statistics_ld = estimate_local_statistics(case["ld"], brain, sigma_ld, SPACING_XYZ_MM)
    statistics_sd = estimate_local_statistics(
        case["sd"], brain, estimate_noise_sigma(case["sd"], brain), SPACING_XYZ_MM
    )
    return {
        "sigma_ld": sigma_ld,
        "s_ld": statistics_ld.std,
        "s_sd": statistics_sd.std,
        "z_sd": normalise_noise(case["sd"], statistics_sd, sigma_ld),
        "gamma_statistic": gamma_statistic(brain, statistics_ld.std, statistics_sd.std),
    }


def test_revert_recovers_the_known_contrast_signal() -> None:
    # Same protocol noise ratio SD / LD (1.7) in both training cases, different noise levels and patterns.
    cases = [_synthetic_case(seed, sigma_ld, 1.7) for seed, sigma_ld in [(1, 0.03), (2, 0.05)]]
    processed = [_preprocess(case) for case in cases]
    gamma = reduce_gamma([item["gamma_statistic"] for item in processed])
    assert gamma == pytest.approx(1.7, rel=0.05)
    case, item = cases[0], processed[0]
    enhancing = case["contrast"] > 4 * item["sigma_ld"]
    assert enhancing.sum() > 500
    # The ideal network output: the eq. 1-normalised *noise-free* SD contrast.
    ideal_prediction = item["sigma_ld"] * case["contrast"] / item["s_sd"]
    reverted = revert_noise_normalisation(ideal_prediction, item["s_ld"], item["sigma_ld"], gamma)
    relative_error = reverted[enhancing] / case["contrast"][enhancing] - 1
    assert abs(np.median(relative_error)) < 0.05
    assert np.percentile(np.abs(relative_error), 95) < 0.15
    # The formula as printed in the paper (no 1 / sigma_LD) is off by the factor sigma_LD.
    printed = gamma * item["s_ld"] * ideal_prediction
    assert np.median(printed[enhancing] / case["contrast"][enhancing]) == pytest.approx(
        item["sigma_ld"], rel=0.1
    )


def test_revert_of_the_eq2_target_recovers_strong_enhancement() -> None:
    case = _synthetic_case(3, 0.04, 1.7)
    item = _preprocess(case)
    target = contrast_target(item["z_sd"], item["sigma_ld"])
    reverted = revert_noise_normalisation(
        target.signal, item["s_ld"], item["sigma_ld"], item["gamma_statistic"]
    )
    strong = case["contrast"] > 8 * item["sigma_ld"]
    relative_error = reverted[strong] / case["contrast"][strong] - 1
    assert abs(np.median(relative_error)) < 0.05  # unbiased where p_SD ~ 1; per-voxel scatter is SD noise
    non_enhancing = case["brain"] & (case["contrast"] == 0)
    assert np.median(target.probability[non_enhancing]) < 0.01  # noise is suppressed in the target
