"""Noise autocorrelation: measured on noise of known correlation, and reproduced by coloured noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gdr_toolkit.simulation.correlated_noise import coloured_noise, high_pass_residual, noise_autocorrelation

SHAPE = (48, 56, 52)
SMOOTHING_VOXELS = 0.8


def _mask() -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[4:44, 6:50, 5:47] = True
    return mask


def _filter_autocorrelation(lags: list[int]) -> np.ndarray:
    """rho(t) of white noise after the filter, from the filter's own impulse response."""
    impulse = np.zeros(31)
    impulse[15] = 1.0
    kernel = ndimage.gaussian_filter1d(impulse, SMOOTHING_VOXELS)
    return np.array([np.dot(kernel[: kernel.size - lag], kernel[lag:]) for lag in lags]) / np.dot(
        kernel, kernel
    )


def test_autocorrelation_of_gaussian_filtered_noise_matches_the_filter():
    """White noise filtered with a (separable) kernel k has rho(t) = sum k_i k_(i+t) / sum k_i^2 per axis."""
    rng = np.random.default_rng(0)
    noise = ndimage.gaussian_filter(rng.standard_normal(SHAPE), SMOOTHING_VOXELS)
    noise += 0.5 * np.linspace(
        0, 1, SHAPE[2]
    )  # a smooth trend (2 noise std over the mask) the high-pass removes
    mask = _mask()
    rho = noise_autocorrelation(high_pass_residual(noise, mask), mask)
    centre = rho.shape[0] // 2
    expected = _filter_autocorrelation([1, 2])
    np.testing.assert_allclose(rho[centre, centre, centre + 1 : centre + 3], expected, atol=0.04)
    np.testing.assert_allclose(rho[centre + 1, centre, centre], expected[0], atol=0.04)


def test_white_noise_is_uncorrelated():
    rng = np.random.default_rng(1)
    mask = _mask()
    rho = noise_autocorrelation(high_pass_residual(rng.standard_normal(SHAPE), mask), mask)
    centre = rho.shape[0] // 2
    assert abs(rho[centre, centre, centre + 1]) < 0.03


def test_coloured_noise_has_unit_variance_and_the_requested_correlation():
    rng = np.random.default_rng(2)
    mask = _mask()
    target = noise_autocorrelation(
        high_pass_residual(ndimage.gaussian_filter(rng.standard_normal(SHAPE), 1.0), mask), mask
    )
    noise = coloured_noise(SHAPE, target, rng)
    assert noise.std() == np.float32(noise.std()) and abs(float(noise.std()) - 1.0) < 0.05
    rho = noise_autocorrelation(high_pass_residual(noise, mask), mask)
    centre = rho.shape[0] // 2
    np.testing.assert_allclose(
        rho[centre, centre, centre + 1 : centre + 3],
        target[centre, centre, centre + 1 : centre + 3],
        atol=0.05,
    )
