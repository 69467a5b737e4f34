"""PatchLoader and validation patches on a really simulated and preprocessed dataset (4 mm, 2 cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gdr_toolkit.dataset.raw_layout import list_cases
from gdr_toolkit.planning.plans import ConfigurationPlan
from gdr_toolkit.preprocessing.preprocessor import STORED_CHANNELS, preprocess_dataset
from gdr_toolkit.simulation import SimulationSettings
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.training.data import LoaderOptions, PatchLoader, PreprocessedDataset, validation_patches

PATCH = (16, 16, 16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> PreprocessedDataset:
    raw = tmp_path_factory.mktemp("raw") / "Dataset001_Phantom"
    write_simulated_dataset(raw, SimulationSettings.tiny(), num_training=2, seed=3)
    configuration = ConfigurationPlan(
        data_identifier="gdrPlans_4mm", spacing_mm=4.0, patch_size=PATCH, batch_size=2, network={},
        condition_keys=("noise_sigma_ld",), noise_normalisation=True, local_noise_kernel_mm=8.0,
        target_device="cpu", memory_budget_bytes=0, estimated_memory_bytes=0, median_image_shape=(40, 48, 40),
    )  # fmt: skip
    output = Path(tmp_path_factory.mktemp("preprocessed")) / "gdrPlans_4mm"
    cases = list_cases(raw, "Tr")
    preprocess_dataset(cases, configuration, output, num_processes=1)
    return PreprocessedDataset(output, [case.case_id for case in cases])


def test_augmented_batches_of_preprocessed_cases_are_finite_and_centred_on_enhancement(dataset):
    assert dataset.channels == STORED_CHANNELS
    options = LoaderOptions(PATCH, batch_size=8, oversample_fraction=1.0, num_workers=0)
    batch = next(PatchLoader(dataset, options))
    assert batch["data"].shape == (8, len(STORED_CHANNELS), *PATCH) and np.isfinite(batch["data"]).all()
    probability = batch["data"][:, STORED_CHANNELS.index("p_sd")]
    assert (probability > 0.5).any(axis=(1, 2, 3)).mean() >= 0.75
    mask = batch["data"][:, STORED_CHANNELS.index("brain_mask")]
    assert mask.min() >= -1e-6 and mask.max() <= 1 + 1e-6


def test_validation_patches_of_preprocessed_cases_repeat(dataset):
    first = validation_patches(dataset, PATCH, patches_per_case=2, seed=0)
    second = validation_patches(dataset, PATCH, patches_per_case=2, seed=0)
    assert len(first) == 2 * len(dataset)
    assert all(np.array_equal(a["data"], b["data"]) for a, b in zip(first, second, strict=True))
