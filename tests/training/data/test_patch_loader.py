"""PatchLoader in the calling process: batch interface, oversampling rates, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_cases import BLOB_EDGE, BLOB_START, P_SD

from gdr_toolkit.preprocessing.preprocessor import STORED_CHANNELS
from gdr_toolkit.training.data import AugmentationOptions, LoaderOptions, PatchLoader, PreprocessedDataset

PATCH = (16, 16, 16)
BLOB_SHAPE = (48, 40, 44)


@pytest.fixture(scope="module")
def dataset(blob_folder) -> PreprocessedDataset:
    return PreprocessedDataset(blob_folder, ["blob_a", "blob_b", "no_enhancement"])


@pytest.fixture(scope="module")
def blob_dataset(blob_folder) -> PreprocessedDataset:
    return PreprocessedDataset(blob_folder, ["blob_a", "blob_b"])


def patches(dataset, count: int, **options) -> np.ndarray:
    loader = PatchLoader(dataset, LoaderOptions(PATCH, batch_size=20, num_workers=0, **options))
    return np.concatenate([next(loader)["data"] for _ in range(count // 20)])


def test_batch_has_the_interface_shape_and_dtype(dataset):
    with PatchLoader(dataset, LoaderOptions(PATCH, batch_size=3, num_workers=0)) as loader:
        batch = next(iter(loader))
    assert batch["data"].shape == (3, len(STORED_CHANNELS), *PATCH) and batch["data"].dtype == np.float32
    assert len(batch["case_ids"]) == 3 and set(batch["case_ids"]) <= set(dataset.case_ids)
    assert np.isfinite(batch["data"]).all()


def test_full_oversampling_puts_enhancing_voxels_in_the_patch_centre(blob_dataset):
    augmentation = AugmentationOptions(rotation_probability=1.0, scaling_probability=1.0)
    data = patches(blob_dataset, 100, oversample_fraction=1.0, augmentation=augmentation)
    centre = data[:, P_SD, 3:13, 3:13, 3:13]
    assert (centre > 0.5).any(axis=(1, 2, 3)).mean() >= 0.95


def test_no_oversampling_matches_the_rate_of_uniform_sampling(blob_dataset):
    rate_per_axis = []
    for shape, patch, start in zip(BLOB_SHAPE, PATCH, BLOB_START, strict=True):
        starts = np.arange(shape - patch + 1)
        rate_per_axis.append(((starts <= start + BLOB_EDGE - 1) & (starts + patch - 1 >= start)).mean())
    expected = float(np.prod(rate_per_axis))
    data = patches(
        blob_dataset, 400, oversample_fraction=0.0, augmentation=AugmentationOptions(enabled=False)
    )
    observed = (data[:, P_SD] > 0.5).any(axis=(1, 2, 3)).mean()
    assert expected < 0.3
    assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / len(data))


def test_same_seed_repeats_and_another_seed_differs(dataset):
    def first_batches(seed: int) -> list[np.ndarray]:
        loader = PatchLoader(dataset, LoaderOptions(PATCH, batch_size=2, num_workers=0, seed=seed))
        return [next(loader)["data"] for _ in range(3)]

    first, again, other = first_batches(7), first_batches(7), first_batches(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_a_batch_equals_its_patches_loaded_one_by_one(dataset):
    from gdr_toolkit.training.data.batch_assembly import assemble_batch, draw_patch, load_augmented_patch

    options = LoaderOptions(PATCH, 4, num_workers=0, augmentation=AugmentationOptions.right_angle())
    batch = assemble_batch(np.random.default_rng(5), dataset, options)["data"]
    rng = np.random.default_rng(5)
    for index in range(4):
        draw = draw_patch(rng, dataset, options)
        np.testing.assert_array_equal(batch[index], load_augmented_patch(dataset, draw, PATCH))


def test_closed_loader_refuses_to_deliver(dataset):
    loader = PatchLoader(dataset, LoaderOptions(PATCH, batch_size=1, num_workers=0))
    loader.close()
    loader.close()
    with pytest.raises(RuntimeError, match="closed"):
        next(loader)


@pytest.mark.parametrize(
    ("field", "value"),
    [("batch_size", 0), ("oversample_fraction", 1.5), ("num_workers", -1)],
)
def test_invalid_options_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        LoaderOptions(PATCH, **{"batch_size": 2, field: value})
