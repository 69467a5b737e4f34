"""The guard's noise model: sigma, lag-1 correlation, <w, C w> and the background, against known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from gdr_toolkit.inference.guard_noise import (
    NoiseModel,
    NoiseModelOptions,
    background_mean,
    estimate_noise_model,
    local_null,
    misregistration_nuisance,
    quadratic_form,
)

SHAPE = (48, 48, 48)


def smoothed_noise(seed: int, std_voxels: float, shape=SHAPE) -> np.ndarray:
    field = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape), std_voxels, mode="wrap")
    return field / field.std()


def kernel_lag1(std_voxels: float) -> float:
    """The exact lag-1 correlation of white noise smoothed by scipy's sampled Gaussian (truncate 4)."""
    kernel = ndimage.gaussian_filter1d(np.eye(1, 41, 20)[0], std_voxels)
    return float(np.sum(kernel[1:] * kernel[:-1]) / np.sum(kernel**2))


def test_sigma_and_lag1_correlation_of_smoothed_noise_are_recovered():
    field = 0.03 * smoothed_noise(0, 1.0)
    model = estimate_noise_model(field, np.ones(SHAPE, dtype=bool))
    assert model.reliable
    assert model.sigma == pytest.approx(0.03, rel=0.03)
    assert model.lag1_correlation == pytest.approx([kernel_lag1(1.0)] * 3, abs=0.02)


def test_white_noise_has_no_correlation_and_inflation_one():
    model = estimate_noise_model(np.random.default_rng(1).normal(size=SHAPE), np.ones(SHAPE, dtype=bool))
    assert max(model.lag1_correlation) < 0.03
    assert model.inflation == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("std_voxels", [0.6, 1.0])
def test_template_variance_matches_monte_carlo(std_voxels):
    """Var <w, n> over 400 noise fields equals sigma^2 <w, c w> of the fitted model within 12 %."""
    grid = np.indices((17, 17, 17), dtype=np.float64) - 8
    template = np.clip(3.0 - np.sqrt((grid**2).sum(axis=0)) + 0.5, 0, 1)
    padded = np.zeros((32, 32, 32))
    padded[7:24, 7:24, 7:24] = template
    sums = [float(np.sum(padded * smoothed_noise(seed, std_voxels, (32, 32, 32)))) for seed in range(400)]
    model = estimate_noise_model(smoothed_noise(999, std_voxels), np.ones(SHAPE, dtype=bool))
    predicted = model.sigma**2 * quadratic_form(padded, model.correlation_kernels())
    assert np.var(sums) == pytest.approx(predicted, rel=0.12)
    assert quadratic_form(padded, [np.ones(1)] * 3) == pytest.approx(float(np.sum(padded**2)))


def test_exact_zeros_left_out_by_the_caller_do_not_lower_sigma():
    field = np.random.default_rng(2).normal(0, 0.03, SHAPE)
    field[:, :, :24] = 0.0  # skull-stripped background
    model = estimate_noise_model(field, field != 0)
    assert model.sigma == pytest.approx(0.03, rel=0.03)
    assert model.noise_voxels == 48 * 48 * 24


def test_too_few_voxels_or_too_strong_correlation_make_the_estimate_unreliable():
    few = np.zeros(SHAPE, dtype=bool)
    few[:10, :10, :10] = True
    model = estimate_noise_model(np.random.default_rng(3).normal(size=SHAPE), few)
    assert not model.reliable and "1000 noise voxels" in (model.reason or "")
    smooth = estimate_noise_model(smoothed_noise(4, 4.0), np.ones(SHAPE, dtype=bool))
    assert not smooth.reliable and "correlation" in (smooth.reason or "")


def test_inflation_of_the_model_is_the_std_ratio_of_a_large_mean():
    model = NoiseModel(1.0, (math.exp(-0.25),) * 3, 1.0, 10**5, True)  # tau = 1 voxel per axis
    kernels = model.correlation_kernels()
    assert kernels[0][kernels[0].size // 2 + 1] == pytest.approx(math.exp(-0.25))
    per_axis = float(kernels[0].sum())
    assert per_axis == pytest.approx(2 * math.sqrt(math.pi), rel=0.01)  # sum_k exp(-k^2/4)


def test_background_follows_a_slow_offset_and_ignores_an_excluded_lesion():
    rng = np.random.default_rng(5)
    z = np.indices(SHAPE)[0].astype(np.float64)
    offset = 0.01 * np.sin(z / 15.0)
    grid = np.indices(SHAPE, dtype=np.float64) - 24
    lesion = np.sqrt((grid**2).sum(axis=0)) <= 8
    field = offset + 0.03 * rng.normal(size=SHAPE) + 0.02 * lesion  # a faint real lesion (0.7 sigma)
    noise_voxels = ~ndimage.binary_dilation(lesion, iterations=4)
    background = background_mean(
        field, noise_voxels, 0.03, (1.0, 1.0, 1.0), NoiseModelOptions(background_mm=6.0)
    )
    inner = (slice(10, 38),) * 3
    assert np.abs(background - offset)[inner].max() < 0.006
    assert abs(background[24, 24, 24] - offset[24, 24, 24]) < 0.004  # not absorbed: 0.02 would show


def test_local_null_variance_of_white_noise_is_sigma_squared_times_sum_w_squared():
    rng = np.random.default_rng(6)
    template = np.ones((3, 3, 3))
    residual = rng.normal(0.0, 0.03, (40, 40, 40))
    median, variance, placements = local_null(template, residual, np.ones(residual.shape, dtype=bool))
    assert placements == 38**3
    assert variance == pytest.approx(0.03**2 * 27, rel=0.05)
    assert abs(median) < 0.03


def test_local_null_skips_placements_off_the_noise_voxels():
    residual = np.random.default_rng(7).normal(size=(20, 20, 20))
    noise_voxels = np.zeros(residual.shape, dtype=bool)
    noise_voxels[:10] = True
    _, _, placements = local_null(np.ones((2, 2, 2)), residual, noise_voxels)
    assert placements == 9 * 19 * 19


def test_misregistration_nuisance_removes_the_edges_of_a_shifted_anatomy():
    """LD = PC's anatomy shifted by 0.4 voxel + noise: the fit leaves the noise, not the edges."""
    rng = np.random.default_rng(8)
    anatomy = 0.3 * ndimage.gaussian_filter((smoothed_noise(9, 3.0) > 0).astype(float), 0.8)  # GM/WM-like
    pre_contrast = anatomy + rng.normal(0, 0.01, SHAPE)
    low_dose = ndimage.shift(anatomy, (0.4, -0.2, 0.1), order=3, mode="nearest") + rng.normal(0, 0.01, SHAPE)
    subtraction = low_dose - pre_contrast
    noise_voxels = np.ones(SHAPE, dtype=bool)
    corrected = subtraction - misregistration_nuisance(subtraction, pre_contrast, noise_voxels, 0.014)
    inner = (slice(4, -4),) * 3
    noise_std = 0.01 * np.sqrt(2)
    assert np.std(subtraction[inner]) > 1.5 * noise_std  # the edges add more than the noise before
    assert np.std(corrected[inner]) < 1.05 * noise_std  # the noise is what is left
    assert np.std(corrected[inner]) > 0.95 * 0.01  # LD's own noise cannot be explained by x_PC
