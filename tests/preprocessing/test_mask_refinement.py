"""Tests of the intensity refinement of an atlas brain mask on synthetic heads with a known brain."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.preprocessing.mask_refinement import RefinementOptions, refine_brain_mask

SPACING = (2.0, 2.0, 2.0)


def _head(brain_radius_mm: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 2 mm grid: brain ball (GM shell over WM), CSF to 66 mm, skull to 72 mm, scalp fat to 80 mm.

    Returns the scan, the true brain and the squared radius (mm^2) for building atlas masks."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[-48:48, -48:48, -48:48]
    radius = 2.0 * np.sqrt(z**2 + y**2 + x**2)
    values = np.select(
        [radius <= brain_radius_mm - 4, radius <= brain_radius_mm, radius <= 66, radius <= 72, radius <= 80],
        [100.0, 75.0, 30.0, 5.0, 160.0],
        0.0,
    )
    values = values + rng.normal(0.0, 3.0, values.shape)
    return values, radius <= brain_radius_mm, radius


@pytest.mark.parametrize("brain_radius_mm", [58.0, 64.0])
def test_a_too_large_atlas_mask_shrinks_to_the_brain(brain_radius_mm):
    """The atlas fits the skull (radius 64 mm), the brain is smaller (wide CSF, as in atrophy)."""
    values, brain, radius = _head(brain_radius_mm)
    result = refine_brain_mask(values, radius <= 64.0, SPACING)
    assert result.fallback_reason is None
    assert result.mask.sum() == pytest.approx(brain.sum(), rel=0.05)
    assert 30.0 < result.threshold < 75.0


def test_a_too_small_atlas_mask_grows_to_the_brain_but_not_into_the_scalp():
    values, brain, radius = _head(60.0)
    result = refine_brain_mask(values, radius <= 56.0, SPACING)
    assert result.mask.sum() == pytest.approx(brain.sum(), rel=0.05)
    assert not (result.mask & (radius > 72)).any()


def test_dark_holes_inside_the_brain_are_filled():
    values, brain, radius = _head(60.0)
    values[radius <= 12] = 30.0  # ventricles
    result = refine_brain_mask(values, radius <= 62.0, SPACING)
    assert result.mask[radius <= 12].all()


def test_a_contrast_without_bright_brain_falls_back_to_the_atlas():
    values, _, radius = _head(60.0)
    atlas = radius <= 62.0
    result = refine_brain_mask(-values + 200.0, atlas, SPACING)  # brain darker than CSF: no T1w
    assert result.fallback_reason is not None and "not brighter" in result.fallback_reason
    assert (result.mask == atlas).all()


def test_invalid_options_are_named():
    with pytest.raises(ValueError, match="threshold_range"):
        RefinementOptions(threshold_range=(0.9, 0.5))
    with pytest.raises(ValueError, match="opening_mm"):
        RefinementOptions(opening_mm=-1.0)
