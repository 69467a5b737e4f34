"""Where a training patch lies: uniform over the volume, or centred near a stored enhancing location.

With a valid-data mask (``valid_mask.ValidityGrid``) a uniform position whose centre is invalid (outside a
CE scan's field of view) is drawn again, up to ``VALID_CENTRE_TRIES`` times, and then the patch is
centred on a random valid voxel instead. Enhancing locations are valid by construction (p_SD = 0 where a
scan has no data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gdr_toolkit.training.data.valid_mask import ValidityGrid

VALID_CENTRE_TRIES = 10
JITTER_FRACTION = 1 / 8  # largest jitter of an oversampled centre, as a fraction of the patch edge


def uniform_patch_start(
    rng: np.random.Generator, shape: Sequence[int], patch_size: Sequence[int]
) -> np.ndarray:
    """Start (z, y, x) of a patch lying uniformly inside the volume; centred where the volume is smaller.

    Returns:
        int64 (3,); negative entries where the patch exceeds the volume (padded with zeros when read).
    """
    shape_zyx, patch = np.asarray(shape, dtype=np.int64), np.asarray(patch_size, dtype=np.int64)
    room = shape_zyx - patch
    start = rng.integers(0, np.maximum(room, 0) + 1)
    return np.where(room >= 0, start, room // 2)


def patch_start_around(
    rng: np.random.Generator, location_zyx: Sequence[int], patch_size: Sequence[int]
) -> np.ndarray:
    """Start (z, y, x) of a patch centred on ``location_zyx`` up to a jitter of patch/8 per axis.

    The patch may leave the volume (those voxels read as zeros), so the location stays near the centre,
    well inside the border that the loss excludes.
    """
    patch = np.asarray(patch_size, dtype=np.int64)
    jitter_limit = np.floor(patch * JITTER_FRACTION).astype(np.int64)
    jitter = rng.integers(-jitter_limit, jitter_limit + 1)
    return np.asarray(location_zyx, dtype=np.int64) + jitter - patch // 2


def valid_uniform_patch_start(
    rng: np.random.Generator,
    shape: Sequence[int],
    patch_size: Sequence[int],
    validity: ValidityGrid | None,
) -> np.ndarray:
    """:func:`uniform_patch_start` whose patch centre is a valid voxel (module docstring).

    Args:
        validity: the case's coarse valid mask, or None (every voxel valid: one plain uniform draw).
    """
    start = uniform_patch_start(rng, shape, patch_size)
    if validity is None or not validity.any_valid:
        return start
    half = np.asarray(patch_size, dtype=np.int64) // 2
    for _ in range(VALID_CENTRE_TRIES):
        if validity.contains(tuple(int(value) for value in start + half)):
            return start
        start = uniform_patch_start(rng, shape, patch_size)
    return validity.random_valid_voxel(rng) - half


def sample_patch_start(
    rng: np.random.Generator,
    shape: Sequence[int],
    enhancing_locations: np.ndarray,
    patch_size: Sequence[int],
    oversample_fraction: float,
    validity: ValidityGrid | None = None,
) -> tuple[np.ndarray, bool]:
    """Draw one patch position for a case.

    Args:
        rng: the random generator.
        shape: the case's spatial shape (z, y, x), voxels.
        enhancing_locations: int (N, 3) voxels (z, y, x) with p_SD > 0.5; N may be 0.
        patch_size: patch edge lengths (z, y, x), voxels.
        oversample_fraction: probability of centring the patch on a random enhancing location; a case
            without locations falls back to a uniform position.
        validity: the case's coarse valid mask (uniform positions avoid invalid centres), or None.

    Returns:
        The patch start, int64 (3,), and whether it was centred on an enhancing location.
    """
    oversample = rng.random() < oversample_fraction
    if oversample and len(enhancing_locations) > 0:
        location = enhancing_locations[rng.integers(len(enhancing_locations))]
        return patch_start_around(rng, location, patch_size), True
    return valid_uniform_patch_start(rng, shape, patch_size, validity), False
