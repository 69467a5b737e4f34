"""Tests of the 95th-percentile normalisation (gdr_toolkit.preprocessing.intensity)."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.preprocessing.intensity import brain_percentile, denormalise_intensity, normalise_intensity


@pytest.fixture
def scan_and_mask() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.gamma(4.0, 250.0, size=(24, 28, 20)).astype(np.float32)
    mask = np.zeros(image.shape, dtype=bool)
    mask[4:20, 5:23, 3:17] = True
    image[~mask] *= 10.0  # bright non-brain tissue must not influence the scale
    return image, mask


def test_percentile_inside_mask_is_one_after_normalisation(scan_and_mask) -> None:
    image, mask = scan_and_mask
    result = normalise_intensity(image, mask)
    assert result.image.dtype == np.float32
    assert result.percentile == 95.0
    assert np.percentile(result.image[mask], 95.0) == pytest.approx(1.0, rel=1e-6)
    assert result.scale == pytest.approx(np.percentile(image[mask], 95.0), rel=1e-6)


def test_scale_undoes_the_normalisation(scan_and_mask) -> None:
    image, mask = scan_and_mask
    result = normalise_intensity(image, mask)
    np.testing.assert_allclose(denormalise_intensity(result.image, result.scale), image, rtol=1e-6)


def test_other_percentile_and_integer_mask(scan_and_mask) -> None:
    image, mask = scan_and_mask
    result = normalise_intensity(image, mask.astype(np.uint8), percentile=50.0)
    assert np.median(result.image[mask]) == pytest.approx(1.0, rel=1e-6)


def test_empty_mask_is_refused(scan_and_mask) -> None:
    image, mask = scan_and_mask
    with pytest.raises(ValueError, match="brain_mask is empty"):
        normalise_intensity(image, np.zeros_like(mask))


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_image_is_refused(scan_and_mask, bad_value: float) -> None:
    image, mask = scan_and_mask
    image = image.copy()
    image[0, 0, 0] = bad_value
    with pytest.raises(
        ValueError, match=r"image holds 1 NaN or infinite value\(s\) \(first at \(z, y, x\) = \(0, 0, 0\)\)"
    ):
        normalise_intensity(image, mask)


def test_non_positive_percentile_value_is_refused(scan_and_mask) -> None:
    _, mask = scan_and_mask
    with pytest.raises(ValueError, match="95.0th percentile inside brain_mask is 0.0"):
        normalise_intensity(np.zeros(mask.shape, dtype=np.float32), mask)


@pytest.mark.parametrize("percentile", [0.0, -5.0, 100.5])
def test_percentile_out_of_range_is_refused(scan_and_mask, percentile: float) -> None:
    image, mask = scan_and_mask
    with pytest.raises(ValueError, match=r"percentile must lie in \(0, 100\]"):
        brain_percentile(image, mask, percentile)


def test_mask_shape_mismatch_is_refused(scan_and_mask) -> None:
    image, mask = scan_and_mask
    with pytest.raises(ValueError, match="brain_mask has shape"):
        normalise_intensity(image, mask[:-1])


def test_bad_scale_in_denormalise_is_refused() -> None:
    with pytest.raises(ValueError, match="scale must be a finite number > 0, got 0.0"):
        denormalise_intensity(np.ones((2, 2, 2)), 0.0)
