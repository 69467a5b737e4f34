"""Fixed, unaugmented patches of held-out cases for validation during training, read lazily.

The patch positions are drawn once (cheap: case shapes and enhancing locations are properties); the
voxels are read from the stored cases batch by batch when validation runs, so no rank holds every
validation patch (8 stored channels each) in memory between validations.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdr_toolkit.training.data.patch_sampling import patch_start_around, valid_uniform_patch_start
from gdr_toolkit.training.data.preprocessed_dataset import PreprocessedDataset


@dataclass(frozen=True)
class ValidationPatch:
    """Where one validation patch lies: the case and the first voxel (z, y, x) of the box."""

    case_id: str
    start_zyx: tuple[int, int, int]


def validation_patch_positions(
    dataset: PreprocessedDataset,
    patch_size: tuple[int, int, int],
    patches_per_case: int,
    seed: int,
    oversample_fraction: float = 0.5,
) -> list[ValidationPatch]:
    """Deterministic patch positions of every case (no voxels are read).

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
        The positions, case by case in dataset order.
    """
    if patches_per_case < 1:
        raise ValueError(f"patches_per_case must be >= 1, got {patches_per_case}.")
    if not 0.0 <= oversample_fraction <= 1.0:
        raise ValueError(f"oversample_fraction must lie in [0, 1], got {oversample_fraction}.")
    oversampled = round(oversample_fraction * patches_per_case)
    positions = []
    for case_id in dataset.case_ids:
        rng = np.random.default_rng([seed, zlib.crc32(case_id.encode())])
        locations = dataset.enhancing_locations(case_id)
        for index in range(patches_per_case):
            if index < oversampled and len(locations) > 0:
                start = patch_start_around(rng, locations[rng.integers(len(locations))], patch_size)
            else:
                validity = dataset.validity_grid(case_id)
                start = valid_uniform_patch_start(rng, dataset.shape(case_id), patch_size, validity)
            positions.append(ValidationPatch(case_id, tuple(int(value) for value in start)))  # type: ignore[arg-type]
    return positions


def validation_patches(
    dataset: PreprocessedDataset,
    patch_size: tuple[int, int, int],
    patches_per_case: int,
    seed: int,
    oversample_fraction: float = 0.5,
) -> list[dict]:
    """The patches of :func:`validation_patch_positions`, read now.

    Returns:
        [{"data": float32 (C, *patch_size), "case_id": str}, ...], case by case in dataset order.
    """
    positions = validation_patch_positions(dataset, patch_size, patches_per_case, seed, oversample_fraction)
    return [
        {"data": dataset.read_patch(patch.case_id, patch.start_zyx, patch_size), "case_id": patch.case_id}
        for patch in positions
    ]


class LazyValidationBatches(Sequence):
    """Batches of validation patches read from disk on access (a sequence: ``len`` and indexing).

    Args:
        dataset: the held-out cases.
        positions: the patches of this rank.
        patch_size: patch edge lengths (z, y, x), voxels.
        batch_size: patches per batch (the last batch may be smaller).

    Items are ``{"data": float32 (B, C, *patch_size), "case_ids": [...]}``.
    """

    def __init__(
        self,
        dataset: PreprocessedDataset,
        positions: Sequence[ValidationPatch],
        patch_size: tuple[int, int, int],
        batch_size: int,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.dataset, self.positions = dataset, list(positions)
        self.patch_size = patch_size
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.positions) // self.batch_size)

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(f"validation batch {index} of {len(self)}")
        first = (index % len(self)) * self.batch_size
        chosen = self.positions[first : first + self.batch_size]
        data = [self.dataset.read_patch(patch.case_id, patch.start_zyx, self.patch_size) for patch in chosen]
        return {"data": np.stack(data), "case_ids": [patch.case_id for patch in chosen]}
