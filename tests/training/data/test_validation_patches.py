"""validation_patches: deterministic, unaugmented, oversampled on enhancing voxels, per-case independent."""

from __future__ import annotations

import numpy as np
from synthetic_cases import P_SD

from gdr_toolkit.preprocessing.preprocessor import STORED_CHANNELS
from gdr_toolkit.training.data import (
    LazyValidationBatches,
    PreprocessedDataset,
    validation_patch_positions,
    validation_patches,
)

PATCH = (16, 16, 16)


def test_patches_are_deterministic_and_shaped(blob_folder):
    dataset = PreprocessedDataset(blob_folder, ["blob_a", "no_enhancement"])
    first = validation_patches(dataset, PATCH, patches_per_case=3, seed=1)
    second = validation_patches(dataset, PATCH, patches_per_case=3, seed=1)
    assert [p["case_id"] for p in first] == ["blob_a"] * 3 + ["no_enhancement"] * 3
    assert all(
        p["data"].shape == (len(STORED_CHANNELS), *PATCH) and p["data"].dtype == np.float32 for p in first
    )
    assert all(np.array_equal(a["data"], b["data"]) for a, b in zip(first, second, strict=True))


def test_oversampled_patches_contain_enhancing_voxels(blob_folder):
    dataset = PreprocessedDataset(blob_folder, ["blob_a"])
    for patch in validation_patches(dataset, PATCH, patches_per_case=4, seed=2, oversample_fraction=1.0):
        assert (patch["data"][P_SD] > 0.5).any()


def test_a_cases_patches_do_not_depend_on_the_other_cases(blob_folder):
    alone = validation_patches(PreprocessedDataset(blob_folder, ["blob_b"]), PATCH, 2, seed=3)
    together = validation_patches(PreprocessedDataset(blob_folder, ["blob_a", "blob_b"]), PATCH, 2, seed=3)
    assert all(np.array_equal(a["data"], b["data"]) for a, b in zip(alone, together[2:], strict=True))


def test_lazy_batches_read_the_same_patches_in_batches(blob_folder):
    dataset = PreprocessedDataset(blob_folder, ["blob_a", "blob_b"])
    eager = validation_patches(dataset, PATCH, patches_per_case=3, seed=4)
    positions = validation_patch_positions(dataset, PATCH, patches_per_case=3, seed=4)
    batches = LazyValidationBatches(dataset, positions, PATCH, batch_size=4)
    assert len(batches) == 2 and [len(batch["case_ids"]) for batch in batches] == [4, 2]
    lazy = np.concatenate([batch["data"] for batch in batches])
    np.testing.assert_array_equal(lazy, np.stack([patch["data"] for patch in eager]))
    assert [case for batch in batches for case in batch["case_ids"]] == [p["case_id"] for p in eager]
