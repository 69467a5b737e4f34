"""Tests of mask dilation in millimetres and of a scan's field of view."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.preprocessing.masks import dilated_mask, field_of_view


def _point_mask(spacing: tuple[float, float, float]) -> sitk.Image:
    array = np.zeros((21, 21, 21), dtype=np.uint8)
    array[10, 10, 10] = 5
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


def test_dilation_radius_is_in_millimetres_per_axis():
    grown = sitk.GetArrayFromImage(dilated_mask(_point_mask((1.0, 2.0, 4.0)), 8.0))
    assert grown.max() == 1
    z, y, x = np.nonzero(grown)
    assert (np.ptp(x), np.ptp(y), np.ptp(z)) == (16, 8, 4)  # 8 mm = 8, 4 and 2 voxels each side


def test_zero_radius_binarises_and_an_empty_mask_is_refused():
    assert sitk.GetArrayFromImage(dilated_mask(_point_mask((1.0, 1.0, 1.0)), 0.0)).sum() == 1
    with pytest.raises(ValueError, match="lesions is empty"):
        dilated_mask(_point_mask((1.0, 1.0, 1.0)) * 0, 3.0, name="lesions")


def test_field_of_view_removes_the_margin_on_every_face_and_keeps_the_grid():
    image = sitk.Image([20, 20, 30], sitk.sitkFloat32)
    image.SetSpacing((1.0, 2.0, 3.0))
    image.SetOrigin((5.0, -3.0, 7.0))
    whole = field_of_view(image)
    inner = sitk.GetArrayFromImage(field_of_view(image, margin_mm=6.0))
    assert sitk.GetArrayViewFromImage(whole).all() and whole.GetOrigin() == image.GetOrigin()
    z, y, x = np.nonzero(inner)
    assert (x.min(), x.max(), y.min(), y.max(), z.min(), z.max()) == (6, 13, 3, 16, 2, 27)
