"""Spatial augmentation: identity, mirroring, alignment of all channels, geometry, margins, sampling."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gdr_toolkit.training.data import (
    AugmentationOptions,
    SpatialParameters,
    apply_spatial_augmentation,
    sample_spatial_parameters,
    source_margin,
)

PATCH = (24, 24, 24)


def source_for(parameters: SpatialParameters, channels: int = 2) -> np.ndarray:
    size = np.asarray(PATCH) + 2 * np.asarray(source_margin(parameters, PATCH))
    return np.zeros((channels, *size), np.float32)


def test_identity_parameters_return_the_centre_crop():
    source = np.random.default_rng(0).random((3, 30, 28, 24), dtype=np.float32)
    patch = apply_spatial_augmentation(source, SpatialParameters(), PATCH)
    np.testing.assert_array_equal(patch, source[:, 3:27, 2:26, :])


def test_mirroring_flips_an_asymmetric_volume():
    source = np.arange(2 * 24**3, dtype=np.float32).reshape(2, *PATCH)
    patch = apply_spatial_augmentation(source, SpatialParameters(mirror_axes=(0, 2)), PATCH)
    np.testing.assert_array_equal(patch, source[:, ::-1, :, ::-1])


def test_all_channels_move_together_and_the_marker_lands_where_the_affine_maps_it():
    parameters = SpatialParameters(rotation_radians=(0.2, -0.15, 0.25), scale=1.1, mirror_axes=(1,))
    source = source_for(parameters)
    centre = (np.asarray(source.shape[1:]) - 1) // 2
    offset = np.array([5, -4, 3])
    marker = tuple(slice(c + o - 2, c + o + 3) for c, o in zip(centre, offset, strict=True))
    source[(0, *marker)] = 1.0
    source[1] = 5.0 * source[0] + 2.0
    patch = apply_spatial_augmentation(source, parameters, PATCH)
    np.testing.assert_allclose(patch[1], 5.0 * patch[0] + 2.0, atol=1e-5)
    marker_offset = centre + offset - (np.asarray(source.shape[1:]) - 1) / 2  # from the source's centre
    expected = np.linalg.solve(parameters.affine(), marker_offset) + (np.asarray(PATCH) - 1) / 2
    expected[1] = PATCH[1] - 1 - expected[1]
    weights = patch[0] / patch[0].sum()
    centroid = [(weights * grid).sum() for grid in np.indices(PATCH)]
    np.testing.assert_allclose(centroid, expected, atol=0.25)


@pytest.mark.parametrize("scale", [0.85, 1.15])
def test_source_margin_leaves_no_empty_corners(scale):
    limit = math.radians(15.0)
    for signs in itertools.product((-1, 1), repeat=3):
        parameters = SpatialParameters(rotation_radians=tuple(s * limit for s in signs), scale=scale)
        source = source_for(parameters) + 1.0
        patch = apply_spatial_augmentation(source, parameters, PATCH)
        np.testing.assert_allclose(patch, 1.0, atol=1e-5)


def test_plain_crop_needs_no_margin():
    assert source_margin(SpatialParameters(mirror_axes=(0,)), PATCH) == (0, 0, 0)


def test_disabled_augmentation_draws_identity():
    parameters = sample_spatial_parameters(np.random.default_rng(0), AugmentationOptions(enabled=False))
    assert parameters == SpatialParameters()


def test_sampled_parameters_respect_ranges_and_probabilities():
    options = AugmentationOptions(rotation_probability=0.5, scaling_probability=0.25, mirror_axes=(0, 2))
    rng = np.random.default_rng(3)
    draws = [sample_spatial_parameters(rng, options) for _ in range(2000)]
    rotated = [d for d in draws if any(d.rotation_radians)]
    scaled = [d for d in draws if d.scale != 1.0]
    assert abs(len(rotated) / 2000 - 0.5) < 0.05 and abs(len(scaled) / 2000 - 0.25) < 0.05
    assert max(abs(a) for d in rotated for a in d.rotation_radians) <= math.radians(15.0)
    assert all(0.85 <= d.scale <= 1.15 for d in scaled)
    assert abs(sum(0 in d.mirror_axes for d in draws) / 2000 - 0.5) < 0.05
    assert all(1 not in d.mirror_axes for d in draws)


def test_source_with_odd_surplus_is_rejected():
    with pytest.raises(ValueError, match="even number"):
        apply_spatial_augmentation(np.zeros((1, 25, 24, 24), np.float32), SpatialParameters(), PATCH)


def test_axis_order_transposes_the_patch():
    source = np.random.default_rng(0).random((2, *PATCH)).astype(np.float32)
    patch = apply_spatial_augmentation(source, SpatialParameters(axis_order=(2, 0, 1)), PATCH)
    np.testing.assert_array_equal(patch, source.transpose(0, 3, 1, 2))


def test_permutations_and_flips_reach_all_48_cube_symmetries_and_keep_unequal_axes():
    options = AugmentationOptions.right_angle()
    assert options.rotation_probability == options.scaling_probability == 0.0
    rng = np.random.default_rng(1)
    draws = [sample_spatial_parameters(rng, options, PATCH) for _ in range(3000)]
    assert not any(draw.resamples for draw in draws)
    assert len({(draw.axis_order, draw.mirror_axes) for draw in draws}) == 48
    orders = {sample_spatial_parameters(rng, options, (32, 16, 32)).axis_order for _ in range(200)}
    assert orders == {(0, 1, 2), (2, 1, 0)}  # only the two 32-voxel axes trade places


def test_intensity_scale_must_be_below_one():
    with pytest.raises(ValueError, match="intensity_scale"):
        AugmentationOptions(intensity_scale=1.0)


def test_writing_into_a_batch_slot_gives_the_same_patch():
    source = np.random.default_rng(3).random((2, *PATCH), dtype=np.float32)
    parameters = SpatialParameters(mirror_axes=(1,), axis_order=(2, 0, 1))
    expected = apply_spatial_augmentation(source, parameters, PATCH)
    batch = np.zeros((3, 2, *PATCH), dtype=np.float32)
    apply_spatial_augmentation(source, parameters, PATCH, out=batch[1])
    np.testing.assert_array_equal(batch[1], expected)
    assert not batch[0].any() and not batch[2].any()
    with pytest.raises(ValueError, match="out has shape"):
        apply_spatial_augmentation(source, parameters, PATCH, out=np.zeros((2, 4, 4, 4), np.float32))
