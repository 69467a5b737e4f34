from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.preprocessing.resampling import (
    anti_alias,
    anti_aliasing_sigmas_mm,
    crop,
    head_bounding_box,
    isotropic_grid,
    resample_array,
    resample_isotropic,
    to_network_grid,
)


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


def test_anti_aliasing_sigma_follows_the_documented_rule():
    sigmas = anti_aliasing_sigmas_mm((0.5, 1.0, 3.0), 1.0)
    np.testing.assert_allclose(sigmas, [np.sqrt(0.75) / 2, 0.0, 0.0])


def test_downsampling_removes_detail_finer_than_the_network_grid():
    """A 2.5 mm-period wave at 0.5 mm cannot be carried by a 2 mm grid: it must average out, not alias."""
    source = _grid(size=(32, 32, 32), spacing=(0.5, 0.5, 0.5), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    x = np.arange(32) * 0.5
    stripes = np.broadcast_to(np.cos(2 * np.pi * x / 2.5), (32, 32, 32)).astype(np.float32)
    arrays = {"x_pc": stripes + 2.0, "mask": (stripes > 0).astype(np.uint8)}
    on_grid, _, _ = to_network_grid(arrays, source, 2.0, ("x_pc", "mask"), frozenset({"mask"}))
    aliased = resample_array(arrays["x_pc"], source, isotropic_grid(source, 2.0))
    interior = (slice(2, -2),) * 3
    assert np.abs(aliased[interior] - 2.0).max() > 0.5  # plain linear interpolation: a false 10 mm wave
    assert np.abs(on_grid["x_pc"][interior] - 2.0).max() < 0.1
    assert set(np.unique(on_grid["mask"])) <= {0, 1}  # masks stay nearest-neighbour


def test_upsampled_axes_are_not_smoothed():
    source = _grid(size=(8, 8, 8), spacing=(1.0, 1.0, 3.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    values = np.random.default_rng(0).normal(size=(8, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(anti_alias(values, source.GetSpacing(), 1.0), values)


def test_resample_isotropic_keeps_the_grid_of_isotropic_grid():
    source = _grid()
    image = sitk.GetImageFromArray(np.random.default_rng(1).random((8, 12, 10)).astype(np.float32))
    image.CopyInformation(source)
    resampled = resample_isotropic(image, 2.0)
    grid = isotropic_grid(source, 2.0)
    assert resampled.GetSize() == grid.GetSize() and resampled.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_allclose(resampled.GetOrigin(), grid.GetOrigin())
