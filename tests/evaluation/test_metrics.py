"""Metric functions against hand-computed values and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gdr_toolkit.evaluation import metrics


def test_psnr_of_known_mse() -> None:
    reference = np.zeros((2, 2, 2))
    prediction = reference.copy()
    prediction[0, 0, 0] = 2.0  # MSE = 4 / 8 = 0.5
    assert metrics.psnr(reference, prediction, peak=1.0) == pytest.approx(10 * math.log10(1 / 0.5))


def test_psnr_inside_mask_uses_only_masked_voxels() -> None:
    reference = np.zeros((2, 2, 2))
    prediction = np.full((2, 2, 2), 3.0)
    prediction[1] = 0.1
    mask = np.zeros((2, 2, 2), dtype=bool)
    mask[1] = True
    assert metrics.psnr(reference, prediction, peak=2.0, mask=mask) == pytest.approx(
        10 * math.log10(4 / 0.01)
    )


def test_psnr_of_identical_images_is_inf() -> None:
    image = np.arange(27.0).reshape(3, 3, 3)
    assert metrics.psnr(image, image, peak=26.0) == math.inf


def test_psnr_matches_skimage() -> None:
    rng = np.random.default_rng(0)
    reference = rng.random((12, 13, 14))
    prediction = reference + rng.normal(0, 0.05, reference.shape)
    expected = peak_signal_noise_ratio(reference, prediction, data_range=1.7)
    assert metrics.psnr(reference, prediction, peak=1.7) == pytest.approx(expected, rel=1e-12)


def test_ssim_matches_skimage_map_and_mean() -> None:
    rng = np.random.default_rng(1)
    reference = rng.random((16, 17, 18))
    prediction = reference + rng.normal(0, 0.1, reference.shape)
    options = dict(data_range=1.2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    mean, full = structural_similarity(reference, prediction, full=True, **options)
    local = metrics.ssim_map(reference, prediction, data_range=1.2)
    np.testing.assert_allclose(local, full, rtol=1e-10, atol=1e-12)
    assert metrics.ssim(reference, prediction, data_range=1.2) == pytest.approx(mean, rel=1e-10)


def test_ssim_is_one_for_identical_images_and_mask_mean() -> None:
    image = np.random.default_rng(2).random((12, 12, 12))
    mask = np.zeros(image.shape, dtype=bool)
    mask[3:6, 3:6, 3:6] = True
    assert metrics.ssim(image, image, data_range=1.0, mask=mask) == pytest.approx(1.0)


def test_mean_absolute_error_in_ce_voxels() -> None:
    reference = np.array([[[1.0, 2.0, 5.0, 6.0]]])
    pre_contrast = np.array([[[1.0, 2.0, 1.0, 1.0]]])
    prediction = np.array([[[0.0, 0.0, 4.0, 8.0]]])
    brain = np.ones(reference.shape, dtype=bool)
    ce = metrics.contrast_enhancing_mask(reference, pre_contrast, brain, threshold=0.5)
    np.testing.assert_array_equal(ce, [[[False, False, True, True]]])
    assert metrics.mean_absolute_error(reference, prediction, ce) == pytest.approx((1.0 + 2.0) / 2)


def test_relative_enhancement_of_two_lesions() -> None:
    pre_contrast = np.ones((1, 1, 4))
    reference = np.array([[[3.0, 5.0, 2.0, 1.5]]])  # lesion 1: +2, +4; lesion 2: +1, +0.5
    prediction = np.array([[[2.0, 4.0, 3.0, 1.0]]])  # lesion 1: +1, +3; lesion 2: +2, 0
    labels = np.array([[[1, 1, 2, 2]]])
    c_bar_1, c_hat_1 = metrics.relative_enhancement(prediction, reference, pre_contrast, labels == 1)
    c_bar_2, c_hat_2 = metrics.relative_enhancement(prediction, reference, pre_contrast, labels == 2)
    assert (c_bar_1, c_hat_1) == pytest.approx((4 / 6, 3 / 4))
    assert (c_bar_2, c_hat_2) == pytest.approx((2 / 1.5, 2 / 1))


def test_relative_enhancement_is_nan_without_reference_enhancement() -> None:
    flat = np.ones((1, 1, 2))
    c_bar, c_hat = metrics.relative_enhancement(flat + 1, flat, flat, np.ones((1, 1, 2), dtype=bool))
    assert math.isnan(c_bar) and math.isnan(c_hat)


def test_shape_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)), peak=1.0)
