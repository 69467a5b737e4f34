"""The valid-data mask on the training side: coarse grid, patch centres, padding, batch validity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from synthetic_cases import blob_stack

from gdr_toolkit.preprocessing import case_storage
from gdr_toolkit.preprocessing.preprocessor import STORED_CHANNELS
from gdr_toolkit.training.data import LoaderOptions, PreprocessedDataset, draw_patch
from gdr_toolkit.training.data.patch_sampling import uniform_patch_start, valid_uniform_patch_start
from gdr_toolkit.training.data.valid_mask import VALID_MASK_CHANNEL, ValidityGrid, valid_voxels
from gdr_toolkit.training.validation import error_sums, finalise_metrics

SHAPE = (48, 40, 44)
CUT_Z = 36  # the top quarter of the volume (z >= 36) lies outside LD's field of view
CHANNELS = (*[name for name in STORED_CHANNELS if name != VALID_MASK_CHANNEL], VALID_MASK_CHANNEL)


def cropped_case_stack() -> np.ndarray:
    stack = blob_stack(SHAPE, seed=4)[: len(CHANNELS) - 1]
    valid = np.ones(SHAPE, np.float32)
    valid[CUT_Z:] = 0.0
    return np.concatenate([stack, valid[None]])


@pytest.fixture(scope="module")
def cropped_dataset(tmp_path_factory) -> PreprocessedDataset:
    folder = tmp_path_factory.mktemp("preprocessed") / "gdrPlans_valid"
    properties = {"channels": list(CHANNELS), "shape_zyx": list(SHAPE), "enhancing_locations_zyx": []}
    case_storage.write_case(folder, "cropped", cropped_case_stack(), properties)
    full = cropped_case_stack()
    full[-1] = 1.0
    case_storage.write_case(folder, "covered", full, {**properties, "case_id": "covered"})
    return PreprocessedDataset(folder, ["cropped", "covered"])


def test_validity_grid_tells_valid_from_invalid_voxels():
    mask = np.ones(SHAPE, np.uint8)
    mask[CUT_Z:] = 0
    grid = ValidityGrid.from_mask(mask, stride=4)
    assert grid.contains((10, 20, 20)) and grid.contains((CUT_Z - 3, 0, 43))
    assert not grid.contains((CUT_Z + 2, 20, 20)) and not grid.contains((47, 39, 43))
    assert not grid.contains((-5, 20, 20))


def test_uniform_patch_centres_avoid_the_invalid_region():
    mask = np.ones(SHAPE, np.uint8)
    mask[CUT_Z:] = 0
    grid, rng, patch = ValidityGrid.from_mask(mask, stride=2), np.random.default_rng(0), (8, 8, 8)
    centres = np.array([valid_uniform_patch_start(rng, SHAPE, patch, grid) + 4 for _ in range(300)])
    assert centres[:, 0].max() < CUT_Z
    plain = np.array([uniform_patch_start(rng, SHAPE, patch) + 4 for _ in range(300)])
    assert plain[:, 0].max() >= CUT_Z  # without the mask about a fifth of the centres are invalid


def test_without_a_mask_the_draw_is_the_plain_uniform_one():
    patch = (8, 8, 8)
    expected = uniform_patch_start(np.random.default_rng(3), SHAPE, patch)
    np.testing.assert_array_equal(
        valid_uniform_patch_start(np.random.default_rng(3), SHAPE, patch, None), expected
    )


def test_dataset_keeps_a_grid_only_for_partly_invalid_cases(cropped_dataset):
    assert cropped_dataset.validity_grid("covered") is None
    grid = cropped_dataset.validity_grid("cropped")
    assert grid is not None and not grid.contains((CUT_Z + 4, 20, 20)) and grid.contains((8, 20, 20))


def test_padding_outside_the_volume_reads_valid(cropped_dataset):
    patch = cropped_dataset.read_patch("covered", (-4, 0, 0), (8, 8, 8))
    assert (patch[-1] == 1.0).all() and not patch[:-1, :4].any()
    inside = cropped_dataset.read_patch("cropped", (CUT_Z - 4, 0, 0), (8, 8, 8))
    np.testing.assert_array_equal(inside[-1, :4], 1.0)
    np.testing.assert_array_equal(inside[-1, 4:], 0.0)


def test_drawn_training_patches_are_centred_on_valid_voxels(cropped_dataset):
    options = LoaderOptions(patch_size=(16, 16, 16), batch_size=1, oversample_fraction=0.0, num_workers=0)
    rng = np.random.default_rng(1)
    draws = [draw_patch(rng, cropped_dataset, options) for _ in range(100)]
    centres_z = [draw.start_zyx[0] + 8 for draw in draws if draw.case_id == "cropped"]
    assert len(centres_z) > 20 and max(centres_z) < CUT_Z + 4  # nearest coarse sample, stride 8


def test_batch_validity_is_none_without_the_channel_and_thresholded_with_it():
    data = np.ones((2, 3, 4, 4, 4), np.float32)
    assert valid_voxels(data, {"x_ld": 0, "brain_mask": 1}) is None
    data[:, 2, 0] = 0.5  # interpolated from valid and invalid voxels: not trusted
    data[:, 2, 1] = 0.9995
    valid = valid_voxels(data, {"x_ld": 0, "brain_mask": 1, VALID_MASK_CHANNEL: 2})
    assert valid.shape == (2, 1, 4, 4, 4) and valid.dtype == torch.bool
    assert not valid[:, :, 0].any() and valid[:, :, 1:].all()


def test_validation_errors_leave_invalid_voxels_out():
    shape = (1, 1, 4, 4, 4)
    prediction, target = torch.zeros(shape), torch.zeros(shape)
    brain, enhancement = torch.ones(shape), torch.zeros(shape)
    valid = torch.ones(shape, dtype=torch.bool)
    valid[..., 2:, :, :] = False
    prediction[..., 2:, :, :] = 7.0  # wrong only where the scans have no data
    sums = error_sums(prediction, target, brain, enhancement, border_voxels=0, valid=valid)
    assert sums[0].item() == 0.0 and sums[1].item() == 32.0
    assert error_sums(prediction, target, brain, enhancement, border_voxels=0)[0].item() > 0.0


def test_contrast_recovery_is_the_pooled_ratio_over_enhancing_voxels():
    target = torch.zeros(1, 1, 4, 4, 4)
    target[..., :2, :, :] = 0.4
    enhancement, brain = (target > 0).float(), torch.ones_like(target)
    prediction = 0.25 * target + 0.1 * (target == 0)  # a quarter of the signal, false signal elsewhere
    sums = error_sums(prediction, target, brain, enhancement, border_voxels=0)
    metrics = finalise_metrics(torch.cat([torch.tensor([0.0, 1.0], dtype=torch.float64), sums]))
    assert metrics["validation_contrast_recovery"] == pytest.approx(0.25)


def test_intensity_scaling_multiplies_intensities_and_leaves_the_masks(cropped_dataset):
    from gdr_toolkit.training.data.batch_assembly import MASK_CHANNELS, load_augmented_patch
    from gdr_toolkit.training.data.options import AugmentationOptions

    options = LoaderOptions(
        patch_size=(16, 16, 16), batch_size=1, num_workers=0,
        augmentation=AugmentationOptions(enabled=True, rotation_probability=0.0, scaling_probability=0.0,
                                         mirror_axes=(), intensity_scale=0.05),
    )  # fmt: skip
    draws = [draw_patch(np.random.default_rng(seed), cropped_dataset, options) for seed in range(40)]
    factors = [draw.intensity_factor for draw in draws]
    assert all(0.95 <= factor <= 1.05 for factor in factors) and np.std(factors) > 0.01
    draw = draws[0]
    plain = load_augmented_patch(
        cropped_dataset, dataclasses.replace(draw, intensity_factor=1.0), (16, 16, 16)
    )
    scaled = load_augmented_patch(cropped_dataset, draw, (16, 16, 16))
    for index, name in enumerate(cropped_dataset.channels):
        expected = plain[index] if name in MASK_CHANNELS else plain[index] * np.float32(draw.intensity_factor)
        np.testing.assert_allclose(scaled[index], expected, rtol=1e-6)
