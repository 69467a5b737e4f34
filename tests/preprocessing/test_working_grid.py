"""Block-averaged working copies for registration: factors per axis, geometry kept, masks kept whole."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.preprocessing.working_grid import shrink_factors, working_image, working_mask


@pytest.mark.parametrize(
    ("spacing", "working", "expected"),
    [
        ((1.0, 1.0, 1.0), 2.0, (2, 2, 2)),
        ((0.5, 0.5, 0.5), 2.0, (4, 4, 4)),
        ((1.0, 1.0, 3.0), 2.0, (2, 2, 1)),
        ((0.9, 0.9, 1.0), 2.0, (2, 2, 2)),
        ((2.0, 2.0, 2.0), 2.0, (1, 1, 1)),
        ((1.0, 1.0, 1.0), None, (1, 1, 1)),
    ],
)
def test_factor_is_the_largest_block_not_coarser_than_the_working_spacing(spacing, working, expected):
    assert shrink_factors(spacing, working) == expected


def test_invalid_working_spacing_is_named():
    with pytest.raises(ValueError, match="working_spacing_mm must be > 0 or None, got 0"):
        shrink_factors((1.0, 1.0, 1.0), 0)


def _image(size=(20, 18, 16), spacing=(1.0, 1.0, 1.0)) -> sitk.Image:
    values = np.random.default_rng(0).random(size[::-1]).astype(np.float32)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(spacing)
    image.SetOrigin((-10.0, 5.0, 3.0))
    image.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    return image


def test_working_image_is_the_block_mean_with_the_physical_extent_kept():
    image = _image()
    coarse = working_image(image, 2.0)
    assert coarse.GetSpacing() == (2.0, 2.0, 2.0) and coarse.GetSize() == (10, 9, 8)
    assert coarse.GetDirection() == image.GetDirection()
    fine = sitk.GetArrayViewFromImage(image)
    assert sitk.GetArrayViewFromImage(coarse)[1, 2, 3] == pytest.approx(fine[2:4, 4:6, 6:8].mean(), rel=1e-5)
    centre = [(n - 1) / 2 for n in image.GetSize()]
    coarse_centre = [(n - 1) / 2 for n in coarse.GetSize()]
    np.testing.assert_allclose(
        coarse.TransformContinuousIndexToPhysicalPoint(coarse_centre),
        image.TransformContinuousIndexToPhysicalPoint(centre),
        atol=1e-9,
    )


def test_images_already_coarse_are_passed_through():
    image = _image(spacing=(2.0, 2.0, 2.0))
    assert working_image(image, 2.0) is image
    assert working_mask(image, 2.0) is image


def test_a_block_touching_the_mask_is_inside():
    mask = sitk.Image((20, 18, 16), sitk.sitkUInt8)
    mask[7, 3, 5] = 1
    coarse = working_mask(mask, 2.0)
    assert coarse.GetPixelID() == sitk.sitkUInt8
    inside = np.argwhere(sitk.GetArrayViewFromImage(coarse))
    assert inside.tolist() == [[2, 1, 3]]  # (z, y, x) block of voxel (x 7, y 3, z 5)
