"""One training batch from a random generator: draw case, position and augmentation, read, augment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdr_toolkit.training.data.options import LoaderOptions
from gdr_toolkit.training.data.patch_sampling import sample_patch_start
from gdr_toolkit.training.data.preprocessed_dataset import PreprocessedDataset
from gdr_toolkit.training.data.spatial_augmentation import (
    SpatialParameters,
    apply_spatial_augmentation,
    sample_spatial_parameters,
    source_margin,
)


@dataclass(frozen=True)
class PatchDraw:
    """Everything random about one training patch (replay it with ``load_augmented_patch``).

    Attributes:
        case_id: the case.
        start_zyx: first voxel of the (unaugmented) patch box, may be negative.
        spatial: the spatial augmentation.
        oversampled: whether the box was centred on an enhancing location.
        intensity_factor: factor applied to the intensity channels (1: none).
    """

    case_id: str
    start_zyx: tuple[int, int, int]
    spatial: SpatialParameters
    oversampled: bool
    intensity_factor: float = 1.0


MASK_CHANNELS = frozenset({"p_sd", "brain_mask", "valid_mask"})  # never intensity-scaled


def draw_patch(rng: np.random.Generator, dataset: PreprocessedDataset, options: LoaderOptions) -> PatchDraw:
    """Draw a case uniformly, then the patch position, then the augmentation (in this order)."""
    case_id = dataset.case_ids[int(rng.integers(len(dataset.case_ids)))]
    weights = None
    if options.enhancement_sampling == "structure":
        weights = dataset.structure_balanced_weights(case_id)
    start, oversampled = sample_patch_start(
        rng,
        dataset.shape(case_id),
        dataset.enhancing_locations(case_id),
        options.patch_size,
        options.oversample_fraction,
        dataset.validity_grid(case_id),
        weights,
    )
    spatial = sample_spatial_parameters(rng, options.augmentation, options.patch_size)
    factor = 1.0
    if options.augmentation.enabled and options.augmentation.intensity_scale > 0:
        reach = options.augmentation.intensity_scale
        factor = float(rng.uniform(1.0 - reach, 1.0 + reach))
    start_zyx = (int(start[0]), int(start[1]), int(start[2]))
    return PatchDraw(case_id, start_zyx, spatial, oversampled, factor)


def load_augmented_patch(
    dataset: PreprocessedDataset,
    draw: PatchDraw,
    patch_size: tuple[int, int, int],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Read the region the draw needs (the patch box grown by its margin) and augment it.

    Args:
        dataset: the cases.
        draw: the patch's random choices.
        patch_size: (z, y, x) voxels.
        out: optional float32 (C, *patch_size) array (e.g. a slot of the batch) to write into.

    Returns:
        float32 (C, *patch_size) (or ``out``), all stored channels transformed together; the intensity
        channels (all but ``MASK_CHANNELS``) multiplied by the draw's intensity factor.
    """
    margin = np.asarray(source_margin(draw.spatial, patch_size))
    start = np.asarray(draw.start_zyx) - margin
    source = dataset.read_patch(draw.case_id, start, np.asarray(patch_size) + 2 * margin)
    factors = None
    if draw.intensity_factor != 1.0:
        factors = np.array(
            [1.0 if name in MASK_CHANNELS else draw.intensity_factor for name in dataset.channels], np.float32
        )
    return apply_spatial_augmentation(source, draw.spatial, patch_size, out, factors)


def assemble_batch(
    rng: np.random.Generator,
    dataset: PreprocessedDataset,
    options: LoaderOptions,
    out: np.ndarray | None = None,
) -> dict:
    """Draw and load ``options.batch_size`` patches, each written straight into its slot of the batch.

    Args:
        rng: the random generator (advanced).
        dataset: the cases.
        options: patch size, batch size, oversampling and augmentation.
        out: optional float32 (B, C, *patch_size) array to fill (e.g. shared memory).

    Returns:
        {"data": float32 (B, C, *patch_size), "case_ids": list of B case ids}.
    """
    shape = (options.batch_size, len(dataset.channels), *options.patch_size)
    data = np.empty(shape, dtype=np.float32) if out is None else out
    if data.shape != shape:
        raise ValueError(f"out has shape {data.shape}, expected {shape}.")
    case_ids = []
    for index in range(options.batch_size):
        draw = draw_patch(rng, dataset, options)
        load_augmented_patch(dataset, draw, options.patch_size, data[index])
        case_ids.append(draw.case_id)
    return {"data": data, "case_ids": case_ids}
