from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.preprocessing.resampling import crop, head_bounding_box, isotropic_grid, resample_array


def _grid(size=(10, 12, 8), spacing=(1.0, 1.0, 3.0), direction=(0, 1, 0, -1, 0, 0, 0, 0, 1)) -> sitk.Image:
    image = sitk.Image(size, sitk.sitkFloat32)
    image.SetSpacing(spacing)
    image.SetOrigin((5.0, -3.0, 2.0))
    image.SetDirection(direction)
    return image


def _physical_box(image: sitk.Image) -> np.ndarray:
    corners = [
        image.TransformContinuousIndexToPhysicalPoint([c - 0.5 for c in corner])
        for corner in ((0, 0, 0), image.GetSize())
    ]
    return np.sort(np.asarray(corners), axis=0)


def test_isotropic_grid_keeps_orientation_and_physical_extent():
    source = _grid()
    grid = isotropic_grid(source, 1.0)
    assert grid.GetSize() == (10, 12, 24)
    assert grid.GetDirection() == source.GetDirection()
    np.testing.assert_allclose(_physical_box(grid), _physical_box(source), atol=1e-6)


def test_linear_resampling_reproduces_a_linear_ramp():
    source = _grid(size=(8, 8, 8), spacing=(2.0, 2.0, 2.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    z = np.arange(8, dtype=np.float32)[:, None, None] * np.ones((8, 8, 8), np.float32)
    target = isotropic_grid(source, 1.0)
    resampled = resample_array(z, source, target)
    # interior voxel centres: index k at 1 mm lies at source index (k - 0.5) / 2
    k = np.arange(2, 14)
    np.testing.assert_allclose(resampled[k, 8, 8], (k - 0.5) / 2, atol=1e-5)


def test_nearest_resampling_keeps_mask_values():
    source = _grid()
    mask = (np.random.default_rng(0).random((8, 12, 10)) > 0.5).astype(np.uint8)
    resampled = resample_array(mask, source, isotropic_grid(source, 1.5), "nearest")
    assert set(np.unique(resampled)) <= {0, 1}
    with pytest.raises(ValueError, match="interpolation"):
        resample_array(mask, source, source, "cubic")


def test_head_bounding_box_encloses_the_head_with_a_margin():
    volume = np.zeros((40, 50, 60), np.float32)
    volume[10:30, 5:45, 20:50] = 1.0
    box = head_bounding_box(volume, margin_voxels=2)
    head = ((10, 30), (5, 45), (20, 50))
    for (start, stop), (head_start, head_stop) in zip(box, head, strict=True):
        assert head_start - 3 <= start <= head_start - 2  # margin, plus at most one voxel of smoothing
        assert head_stop + 2 <= stop <= head_stop + 3
    cropped = crop(np.stack([volume, volume]), box)
    assert cropped.shape[0] == 2 and cropped.sum() == 2 * volume.sum()
