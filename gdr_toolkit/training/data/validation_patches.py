"""Fixed, unaugmented patches of held-out cases for validation during training."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from gdr_toolkit.training.data.patch_sampling import patch_start_around, valid_uniform_patch_start
from gdr_toolkit.training.data.preprocessed_dataset import PreprocessedDataset


def validation_patches(
    dataset: PreprocessedDataset,
    patch_size: Sequence[int],
    patches_per_case: int,
    seed: int,
    oversample_fraction: float = 0.5,
) -> list[dict]:
    """Deterministic patches of every case, without augmentation.

    Per case, ``round(oversample_fraction * patches_per_case)`` patches are centred (with the training
    jitter) on random enhancing locations (uniform positions where the case has none) and the rest lie
    uniformly in the volume, centred on valid voxels (``patch_sampling.valid_uniform_patch_start``). A
    case's patches depend only on (seed, case id), not on the other cases.

    Args:
        dataset: the held-out cases.
        patch_size: patch edge lengths (z, y, x), voxels.
        patches_per_case: patches per case (>= 1).
        seed: the seed.
        oversample_fraction: fraction of patches centred on enhancing locations, in [0, 1].

    Returns:
        [{"data": float32 (C, *patch_size), "case_id": str}, ...], case by case in dataset order.
    """
    if patches_per_case < 1:
        raise ValueError(f"patches_per_case must be >= 1, got {patches_per_case}.")
    if not 0.0 <= oversample_fraction <= 1.0:
        raise ValueError(f"oversample_fraction must lie in [0, 1], got {oversample_fraction}.")
    patch_size = tuple(int(edge) for edge in patch_size)
    oversampled = round(oversample_fraction * patches_per_case)
    patches = []
    for case_id in dataset.case_ids:
        rng = np.random.default_rng([seed, zlib.crc32(case_id.encode())])
        locations = dataset.enhancing_locations(case_id)
        for index in range(patches_per_case):
            if index < oversampled and len(locations) > 0:
                start = patch_start_around(rng, locations[rng.integers(len(locations))], patch_size)
            else:
                validity = dataset.validity_grid(case_id)
                start = valid_uniform_patch_start(rng, dataset.shape(case_id), patch_size, validity)
            patches.append({"data": dataset.read_patch(case_id, start, patch_size), "case_id": case_id})
    return patches
