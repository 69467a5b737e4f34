"""Resampling of per-case arrays to the planned isotropic spacing, and cropping to the head.

Arrays are numpy (z, y, x) on a SimpleITK grid (spacing and origin in mm, direction cosines). The
isotropic grid keeps the source's orientation and physical extent: the outer corner of the first voxel
stays where it was, the number of voxels per axis is round(size * spacing / target).

Anti-aliasing: along every axis where the target spacing t is coarser than the source spacing s, images
(never masks) are smoothed before the linear interpolation with a Gaussian of std
sigma = sqrt(t^2 - s^2) / 2 mm (scipy.ndimage.gaussian_filter). Modelling a voxel of size s as a
Gaussian point-spread of std s / 2, the smoothed source then has the point-spread std t / 2 of the
target voxel, so detail finer than the target grid can carry is removed before it is sampled. Axes
that get finer (or keep their spacing) are not smoothed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

SPACING_TOLERANCE_MM = 1e-3


def isotropic_grid(reference: sitk.Image, spacing_mm: float) -> sitk.Image:
    """An empty uint8 image with ``reference``'s orientation and extent at ``spacing_mm`` (isotropic)."""
    if spacing_mm <= 0:
        raise ValueError(f"spacing_mm must be > 0, got {spacing_mm}.")
    old_spacing = np.asarray(reference.GetSpacing())
    size = [
        max(1, int(round(n * s / spacing_mm))) for n, s in zip(reference.GetSize(), old_spacing, strict=True)
    ]
    direction = np.asarray(reference.GetDirection()).reshape(3, 3)
    corner_shift = direction @ ((spacing_mm - old_spacing) / 2.0)
    grid = sitk.Image(size, sitk.sitkUInt8)
    grid.SetSpacing([spacing_mm] * 3)
    grid.SetDirection(reference.GetDirection())
    grid.SetOrigin(tuple(np.asarray(reference.GetOrigin()) + corner_shift))
    return grid


def anti_aliasing_sigmas_mm(source_spacing_mm: Sequence[float], target_spacing_mm: float) -> np.ndarray:
    """Per-axis Gaussian std (mm) applied before resampling to ``target_spacing_mm``: sqrt(t^2 - s^2) / 2
    where the target is coarser than the source, else 0. Same axis order as ``source_spacing_mm``."""
    source = np.asarray(source_spacing_mm, dtype=np.float64)
    return np.sqrt(np.maximum(target_spacing_mm**2 - source**2, 0.0)) / 2.0


def anti_alias(array: np.ndarray, spacing_xyz_mm: Sequence[float], target_spacing_mm: float) -> np.ndarray:
    """Smooth a (z, y, x) image before resampling it to ``target_spacing_mm`` (module docstring).

    Args:
        array: float image on a grid with voxel size ``spacing_xyz_mm`` (x, y, z order, mm).
        spacing_xyz_mm: the source voxel size, SimpleITK order.
        target_spacing_mm: the isotropic target spacing (mm).

    Returns:
        float32 (z, y, x); ``array`` itself (as float32) when no axis gets coarser.
    """
    sigmas_zyx = anti_aliasing_sigmas_mm(spacing_xyz_mm, target_spacing_mm)[::-1]
    if not sigmas_zyx.any():
        return array.astype(np.float32, copy=False)
    sigma_voxels = sigmas_zyx / np.asarray(spacing_xyz_mm, dtype=np.float64)[::-1]
    return ndimage.gaussian_filter(array.astype(np.float32, copy=False), sigma_voxels, mode="nearest")


def resample_isotropic(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """``image`` (3D scalar) anti-aliased and resampled linearly onto :func:`isotropic_grid`; float32."""
    grid = isotropic_grid(image, spacing_mm)
    values = anti_alias(sitk.GetArrayViewFromImage(image), image.GetSpacing(), spacing_mm)
    return image_like(resample_array(values, image, grid), grid)


def image_like(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    """A SimpleITK image of a (z, y, x) array with ``grid``'s spacing, origin and direction."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


def needs_resampling(reference: sitk.Image, spacing_mm: float) -> bool:
    return not np.allclose(reference.GetSpacing(), spacing_mm, atol=SPACING_TOLERANCE_MM, rtol=0)


def resample_array(
    array: np.ndarray, source: sitk.Image, target: sitk.Image, interpolation: str = "linear"
) -> np.ndarray:
    """Resample a (z, y, x) array living on ``source``'s grid onto ``target``'s grid.

    Args:
        array: values on the source grid, shape equal to source's (z, y, x).
        source, target: grids (their voxel values are not used).
        interpolation: "linear" for images and soft maps, "nearest" for masks and labels.
    """
    methods = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor}
    if interpolation not in methods:
        raise ValueError(f"interpolation must be 'linear' or 'nearest', got {interpolation!r}.")
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(source)
    resampled = sitk.Resample(
        image, target, sitk.Transform(), methods[interpolation], 0.0, image.GetPixelID()
    )
    return sitk.GetArrayFromImage(resampled)


def head_bounding_box(
    pre_contrast: np.ndarray, threshold: float = 0.05, margin_voxels: int = 4
) -> tuple[tuple[int, int], ...]:
    """Bounding box (start, stop) per axis (z, y, x) of the head: where the normalised PC, lightly
    smoothed, exceeds ``threshold`` (PC divided by its 95th brain percentile), plus a margin."""
    smoothed = ndimage.uniform_filter(pre_contrast.astype(np.float32), size=3)
    foreground = smoothed > threshold
    if not foreground.any():
        return tuple((0, n) for n in pre_contrast.shape)
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(foreground.any(axis=other))
        start = max(0, int(present[0]) - margin_voxels)
        stop = min(pre_contrast.shape[axis], int(present[-1]) + 1 + margin_voxels)
        box.append((start, stop))
    return tuple(box)


def crop(array: np.ndarray, box: tuple[tuple[int, int], ...]) -> np.ndarray:
    """``array[..., z0:z1, y0:y1, x0:x1]`` for a box from :func:`head_bounding_box`."""
    index: tuple[Any, ...] = (Ellipsis, *(slice(start, stop) for start, stop in box))
    return array[index]


def to_network_grid(
    arrays: dict[str, np.ndarray],
    pre_contrast: sitk.Image,
    spacing_mm: float,
    names: tuple[str, ...],
    nearest: frozenset[str] = frozenset(),
) -> tuple[dict[str, np.ndarray], sitk.Image, tuple[tuple[int, int], ...]]:
    """Put arrays from PC's grid onto the network's grid: the one code path of training data and inference.

    Args:
        arrays: (z, y, x) arrays on ``pre_contrast``'s grid; must hold ``x_pc`` (it defines the head box).
        pre_contrast: PC (its grid).
        spacing_mm: the plan's isotropic spacing (no resampling when PC already has it).
        names: which arrays to return.
        nearest: names resampled with nearest neighbour (masks); the others anti-aliased
            (:func:`anti_alias`) then linearly.

    Returns:
        The resampled (uncropped) arrays, the isotropic grid, and the head box on that grid.
    """
    grid = pre_contrast
    wanted = dict.fromkeys((*names, "x_pc"))
    on_grid = {name: arrays[name] for name in wanted}
    if needs_resampling(pre_contrast, spacing_mm):
        grid = isotropic_grid(pre_contrast, spacing_mm)
        on_grid = {
            name: resample_array(arrays[name], pre_contrast, grid, "nearest")
            if name in nearest
            else resample_array(
                anti_alias(arrays[name], pre_contrast.GetSpacing(), spacing_mm), pre_contrast, grid
            )
            for name in wanted
        }
    box = head_bounding_box(on_grid["x_pc"])
    return {name: on_grid[name] for name in names}, grid, box
