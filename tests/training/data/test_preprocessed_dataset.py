"""PreprocessedDataset: exact region reads, zero padding, lazy slicing, validation of the folder."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from synthetic_cases import VALID, blob_stack

from gdr_toolkit.preprocessing.preprocessor import STORED_CHANNELS
from gdr_toolkit.training.data import PreprocessedDataset


@pytest.fixture(scope="module")
def dataset(blob_folder) -> PreprocessedDataset:
    return PreprocessedDataset(blob_folder, ["blob_a", "blob_b", "no_enhancement"])


def test_read_patch_returns_exactly_the_stored_region(dataset):
    full = blob_stack(seed=1)
    patch = dataset.read_patch("blob_a", (5, 7, 9), (16, 12, 20))
    assert patch.dtype == np.float32 and patch.shape == (len(STORED_CHANNELS), 16, 12, 20)
    np.testing.assert_array_equal(patch, full[:, 5:21, 7:19, 9:29])


def test_read_patch_pads_outside_the_volume_with_zeros(dataset):
    full = blob_stack(seed=1)
    patch = dataset.read_patch("blob_a", (-3, 30, 40), (10, 16, 8))
    expected = np.zeros((len(STORED_CHANNELS), 10, 16, 8), np.float32)
    expected[VALID] = 1.0  # outside the volume counts as valid (old data without the channel train as before)
    expected[:, 3:, :10, :4] = full[:, :7, 30:40, 40:44]
    np.testing.assert_array_equal(patch, expected)


def test_read_patch_entirely_outside_is_zero(dataset):
    patch = dataset.read_patch("blob_a", (100, 0, 0), (4, 4, 4))
    assert not np.delete(patch, VALID, axis=0).any() and patch[VALID].all()


def test_read_patch_slices_only_the_region(dataset):
    requested = []
    array = dataset._array("blob_b")

    class RecordingArray:
        shape, ndim = array.shape, array.ndim

        def __getitem__(self, key):
            requested.append(key)
            return array[key]

    dataset._arrays["blob_b"] = RecordingArray()
    try:
        dataset.read_patch("blob_b", (-2, 3, 40), (8, 8, 8))
    finally:
        dataset._arrays["blob_b"] = array
    assert requested == [(slice(None), slice(0, 6), slice(3, 11), slice(40, 44))]


def test_channels_shape_and_properties_come_from_the_case_files(dataset):
    assert dataset.channels == STORED_CHANNELS
    assert dataset.shape("no_enhancement") == (36, 30, 32)
    assert dataset.properties("blob_a") is dataset.properties("blob_a")
    assert dataset.enhancing_locations("blob_a").shape == (64, 3)
    assert dataset.enhancing_locations("no_enhancement").shape == (0, 3)


def test_pickled_dataset_reopens_the_files(dataset):
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy.case_ids == dataset.case_ids and not copy._arrays
    np.testing.assert_array_equal(
        copy.read_patch("blob_a", (0, 0, 0), (4, 4, 4)), blob_stack(seed=1)[:, :4, :4, :4]
    )


def test_missing_case_is_named(blob_folder):
    with pytest.raises(FileNotFoundError, match=r"lacks the cases ghost.*"):
        PreprocessedDataset(blob_folder, ["blob_a", "ghost"])


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        PreprocessedDataset(tmp_path / "nowhere", ["blob_a"])
