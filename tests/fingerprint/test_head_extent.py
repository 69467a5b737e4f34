"""The head's bounding box on a synthetic box-shaped head."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.fingerprint.head_extent import head_extent


def _box_head(noise_level: float) -> sitk.Image:
    rng = np.random.default_rng(0)
    values = np.abs(rng.normal(0.0, noise_level, size=(40, 50, 60))).astype(np.float32)  # (z, y, x)
    values[10:30, 5:45, 20:50] += 1000.0
    values[0, 0, 0] = 1000.0  # an isolated bright voxel outside the head
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((1.0, 2.0, 3.0))
    return image


def test_head_box_is_the_bright_region_and_ignores_isolated_voxels():
    extent = head_extent(_box_head(noise_level=30.0), brain_percentile_95=1000.0, smoothing_mm=0.0)
    assert extent.box_start == (20, 5, 10)
    assert extent.box_shape == (30, 40, 20)
    assert extent.box_mm == pytest.approx((30.0, 80.0, 60.0))
    assert extent.voxel_count == 30 * 40 * 20


def test_head_extent_refuses_a_non_positive_percentile():
    with pytest.raises(ValueError, match="brain_percentile_95"):
        head_extent(_box_head(noise_level=1.0), brain_percentile_95=0.0)
