"""Spatial augmentation of a multi-channel patch: rotation, isotropic scaling, mirroring, axis permutation.

A random draw (``sample_spatial_parameters``) is separate from its deterministic application
(``apply_spatial_augmentation``), so a draw can be replayed and tested. Every channel of the stack
(inputs, continuous targets and the brain mask) is resampled identically with linear interpolation;
there are no intensity transforms, which would change what the contrast signal means.

The resampling is batchgeneratorsv2's ``SpatialTransform`` (torch ``grid_sample``): measured on two
CPU cores it is 3-6 times faster than classic batchgenerators' scipy-based transform (see
documentation/data_loading.md). The source region a draw needs is known before reading
(``source_margin``), so the loader reads exactly that enlarged region and the transform resamples
it onto the patch grid centred in it: corners never fall outside the read data.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform, create_affine_matrix_3d

from gdr_toolkit.training.data.options import AugmentationOptions

INTERPOLATION_MARGIN = 1  # voxels a linear kernel reaches beyond a sample point


@dataclass(frozen=True)
class SpatialParameters:
    """One draw of the spatial augmentation.

    Attributes:
        rotation_radians: rotation angles about the three axes, radians (batchgeneratorsv2's convention).
        scale: isotropic scale of the sampled region (> 1 samples a larger region: structures shrink).
        mirror_axes: spatial axes of (z, y, x) flipped after resampling.
        axis_order: the patch's spatial axes after the flips are ``source axes[axis_order]`` (a permutation
            of (0, 1, 2) among axes of equal patch edge).
    """

    rotation_radians: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0
    mirror_axes: tuple[int, ...] = ()
    axis_order: tuple[int, int, int] = (0, 1, 2)

    @property
    def resamples(self) -> bool:
        """Whether the draw needs interpolation (else the patch is a plain crop)."""
        return self.scale != 1.0 or any(angle != 0.0 for angle in self.rotation_radians)

    def affine(self) -> np.ndarray:
        """(3, 3) map from patch offsets to source offsets (voxels, (z, y, x) order)."""
        return create_affine_matrix_3d(list(self.rotation_radians), [self.scale] * 3)


IDENTITY = SpatialParameters()


def sample_spatial_parameters(
    rng: np.random.Generator, options: AugmentationOptions, patch_size: tuple[int, int, int] = (1, 1, 1)
) -> SpatialParameters:
    """Draw rotation, scale, mirroring (always four draws from ``rng`` plus three angles) and, with
    ``options.permute_axes``, an axis order among the axes of equal edge in ``patch_size`` (one more draw)."""
    if not options.enabled:
        return IDENTITY
    rotate = rng.random() < options.rotation_probability
    limit = math.radians(options.rotation_degrees)
    angles = rng.uniform(-limit, limit, size=3)
    scale_now = rng.random() < options.scaling_probability
    scale = float(rng.uniform(*options.scaling_range))
    flips = rng.random(len(options.mirror_axes)) < 0.5
    return SpatialParameters(
        rotation_radians=(float(angles[0]), float(angles[1]), float(angles[2]))
        if rotate
        else (0.0, 0.0, 0.0),
        scale=scale if scale_now else 1.0,
        mirror_axes=tuple(axis for axis, flip in zip(options.mirror_axes, flips, strict=True) if flip),
        axis_order=_random_axis_order(rng, patch_size) if options.permute_axes else (0, 1, 2),
    )


def _random_axis_order(rng: np.random.Generator, patch_size: tuple[int, int, int]) -> tuple[int, int, int]:
    """A random permutation of (0, 1, 2) that only exchanges axes of equal edge length."""
    order = [0, 1, 2]
    shuffled = list(rng.permutation(3))
    for edge in set(patch_size):
        axes = [axis for axis in range(3) if patch_size[axis] == edge]
        for axis, source in zip(axes, [axis for axis in shuffled if axis in axes], strict=True):
            order[axis] = int(source)
    return (order[0], order[1], order[2])


def source_margin(parameters: SpatialParameters, patch_size: Sequence[int]) -> tuple[int, int, int]:
    """Voxels to add on each side of the patch so that the resampling reads only real data.

    Returns:
        (z, y, x) margins; the source region is the patch box grown by the margin on both sides.
    """
    if not parameters.resamples:
        return (0, 0, 0)
    half_extent = (np.asarray(patch_size, dtype=float) - 1.0) / 2.0
    reach = np.abs(parameters.affine()) @ half_extent
    margins = np.ceil(reach - half_extent - 1e-6).clip(min=0) + INTERPOLATION_MARGIN
    return int(margins[0]), int(margins[1]), int(margins[2])


def apply_spatial_augmentation(
    source: np.ndarray,
    parameters: SpatialParameters,
    patch_size: tuple[int, int, int],
    out: np.ndarray | None = None,
    channel_factors: np.ndarray | None = None,
) -> np.ndarray:
    """Resample the centre of ``source`` onto the augmented patch grid (deterministic).

    Args:
        source: float32 (C, z, y, x), the patch box grown by the same margin on both sides
            (``source_margin``); every channel is interpolated linearly.
        parameters: the draw to apply.
        patch_size: output edge lengths (z, y, x), voxels.
        out: optional float32 (C, *patch_size) array (e.g. a slot of the batch) that the result is
            written into, without an intermediate contiguous copy.
        channel_factors: optional float32 (C,) factors the channels are multiplied by while the
            patch is written (the intensity augmentation, in the same pass over the data).

    Returns:
        float32 (C, *patch_size), or ``out``. With identity parameters: the centre crop of ``source``.
    """
    surplus = np.subtract(source.shape[1:], patch_size)
    if source.ndim != 4 or (surplus < 0).any() or (surplus % 2).any():
        raise ValueError(
            f"source must be (C, z, y, x) exceeding patch_size {patch_size} by an even number of voxels per "
            f"axis, got shape {source.shape}."
        )
    if parameters.resamples:
        patch = _resample(
            torch.from_numpy(np.ascontiguousarray(source, dtype=np.float32)), parameters, patch_size
        )
    else:
        margin = surplus // 2
        patch = source[(slice(None), *(slice(m, m + p) for m, p in zip(margin, patch_size, strict=True)))]
    if parameters.mirror_axes:
        patch = np.flip(patch, axis=tuple(axis + 1 for axis in parameters.mirror_axes))
    if parameters.axis_order != (0, 1, 2):
        patch = patch.transpose(0, *(axis + 1 for axis in parameters.axis_order))
    if out is None:
        out = np.empty(patch.shape, dtype=np.float32)
    if out.shape != patch.shape:
        raise ValueError(f"out has shape {out.shape}, expected {patch.shape}.")
    if channel_factors is None:
        np.copyto(out, patch)
    else:
        np.multiply(patch, np.asarray(channel_factors, np.float32).reshape(-1, 1, 1, 1), out=out)
    return out


def _resample(
    source: torch.Tensor, parameters: SpatialParameters, patch_size: tuple[int, int, int]
) -> np.ndarray:
    angles, scale = parameters.rotation_radians, parameters.scale
    transform = SpatialTransform(
        patch_size,
        patch_center_dist_from_border=0,
        random_crop=False,  # the patch grid is centred in the source region
        p_rotation=1.0,
        rotation=lambda dim, **_: angles[dim],
        p_scaling=1.0,
        scaling=lambda dim, **_: scale,
        p_synchronize_scaling_across_axes=0.0,
        mode_image="bilinear",  # trilinear for 5D input
        padding_mode_image="zeros",
    )
    # get_parameters draws its coin flips from numpy's global generator: keep the caller's stream intact.
    state = np.random.get_state()
    try:
        drawn = transform.get_parameters(image=source)
    finally:
        np.random.set_state(state)
    with torch.no_grad(), _single_intra_op_thread():
        return transform.apply({"image": source}, **drawn)["image"].numpy()


@contextmanager
def _single_intra_op_thread() -> Iterator[None]:
    """Run torch on one thread: one patch is too small to share (measured on 2 cores: 3.4x slower
    with 2 threads than with 1); worker processes run single-threaded anyway."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
