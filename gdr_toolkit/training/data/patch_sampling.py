"""Where a training patch lies: uniform over the volume, or centred near a stored enhancing location.

With a valid-data mask (``valid_mask.ValidityGrid``) a uniform position whose centre is invalid (outside a
CE scan's field of view) is drawn again, up to ``VALID_CENTRE_TRIES`` times, and then the patch is
centred on a random valid voxel instead. Enhancing locations are valid by construction (p_SD = 0 where a
scan has no data).

Which enhancing location a centred patch uses is set by ``EnhancementSampling``: ``"voxel"`` draws every
stored location with equal probability, so a large lesion (or vessel) is drawn in proportion to its volume;
``"structure"`` first draws one connected enhancing structure (26-connectivity, at least
``MIN_STRUCTURE_VOXELS`` voxels) with equal probability and then a stored voxel inside it, so a 10-voxel
lesion is drawn as often as a 1,000-voxel one and single-voxel noise speckle of p_SD not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
from scipy import ndimage

from gdr_toolkit.training.data.valid_mask import ValidityGrid

VALID_CENTRE_TRIES = 10
JITTER_FRACTION = 1 / 8  # largest jitter of an oversampled centre, as a fraction of the patch edge
EnhancementSampling = Literal["voxel", "structure"]
ENHANCEMENT_SAMPLING_MODES: tuple[str, ...] = get_args(EnhancementSampling)
MIN_STRUCTURE_VOXELS = 10  # smaller connected pieces of p_SD > 0.5 are mostly noise speckle


def structure_balanced_weights(
    locations_zyx: np.ndarray, enhancing: np.ndarray, min_voxels: int = MIN_STRUCTURE_VOXELS
) -> np.ndarray | None:
    """Probabilities of the stored enhancing locations that give every connected enhancing structure of
    at least ``min_voxels`` voxels the same chance, split evenly among its stored locations.

    Args:
        locations_zyx: int (N, 3) stored enhancing voxels (z, y, x), possibly a subsample of ``enhancing``.
        enhancing: boolean (z, y, x), every enhancing voxel (p_SD > 0.5); its 26-connected components are
            the structures, sized on the full mask (a subsample does not split them).
        min_voxels: smaller structures get probability 0 (in p_SD > 0.5 most are noise speckle: of the
            2,000-2,800 components per case of the reproduction study's data about 75 % are single voxels
            and 53-66 have 10 voxels or more).

    Returns:
        float64 (N,) summing to 1, or None when no structure of ``min_voxels`` holds a stored location (draw
        the locations uniformly then).
    """
    locations = np.asarray(locations_zyx, dtype=np.int64).reshape(-1, 3)
    if len(locations) == 0:
        return None
    labels, _ = ndimage.label(enhancing, structure=np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel())
    location_labels = labels[tuple(locations.T)]
    kept = (location_labels > 0) & (sizes[location_labels] >= min_voxels)
    if not kept.any():
        return None
    structures, structure_of, stored = np.unique(
        location_labels[kept], return_inverse=True, return_counts=True
    )
    weights = np.zeros(len(locations), dtype=np.float64)
    weights[kept] = 1.0 / (len(structures) * stored[structure_of])
    return weights


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
    location_weights: np.ndarray | None = None,
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
        location_weights: float (N,) probabilities of the enhancing locations (e.g.
            ``structure_balanced_weights``); None: every location equally likely.

    Returns:
        The patch start, int64 (3,), and whether it was centred on an enhancing location.
    """
    oversample = rng.random() < oversample_fraction
    if oversample and len(enhancing_locations) > 0:
        if location_weights is None:
            index = int(rng.integers(len(enhancing_locations)))
        else:
            index = int(rng.choice(len(enhancing_locations), p=location_weights))
        location = enhancing_locations[index]
        return patch_start_around(rng, location, patch_size), True
    return valid_uniform_patch_start(rng, shape, patch_size, validity), False
