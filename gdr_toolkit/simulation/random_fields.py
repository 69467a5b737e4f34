"""Smooth random scalar fields (for bumpy anatomy, deformations and bias fields)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage


def coarse_grid(reference: sitk.Image, spacing_mm: float, margin_mm: float = 0.0) -> sitk.Image:
    """An identity-direction grid with ``spacing_mm`` covering ``reference``'s bounding box plus a margin.

    Args:
        reference: any image; only its physical extent is used.
        spacing_mm: isotropic spacing of the new grid in mm.
        margin_mm: extra margin on every side in mm.

    Returns:
        A float32 image of zeros on the new grid.
    """
    low, high = physical_bounding_box(reference)
    low, high = low - margin_mm, high + margin_mm
    size = [int(np.ceil((hi - lo) / spacing_mm)) + 1 for lo, hi in zip(low, high, strict=True)]
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing([spacing_mm] * 3)
    grid.SetOrigin([float(value) for value in low])
    return grid


def physical_bounding_box(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) physical corners (mm, LPS) of the box spanned by the voxel centres of ``image``."""
    size = np.array(image.GetSize())
    corner_points = [
        image.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner])
        for corner in np.array(np.meshgrid(*[[0, n - 1] for n in size], indexing="ij")).reshape(3, -1).T
    ]
    corners = np.array(corner_points)
    return corners.min(axis=0), corners.max(axis=0)


def smooth_random_field(reference: sitk.Image, correlation_mm: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth Gaussian random field with zero mean and (about) unit standard deviation.

    White noise is drawn on a coarse grid (spacing ``correlation_mm / 2``), smoothed with a Gaussian of
    one coarse voxel, normalised and interpolated linearly onto ``reference``'s grid.

    Args:
        reference: the grid to evaluate the field on.
        correlation_mm: length scale of the variations in mm.
        rng: random generator (consumed).

    Returns:
        Float32 array of shape (z, y, x) as ``sitk.GetArrayFromImage(reference)``.
    """
    grid = coarse_grid(reference, correlation_mm / 2.0, margin_mm=correlation_mm)
    noise = ndimage.gaussian_filter(rng.standard_normal(grid.GetSize()[::-1]), 1.0, mode="reflect")
    noise = (noise - noise.mean()) / noise.std()
    coarse = sitk.GetImageFromArray(noise.astype(np.float32))
    coarse.CopyInformation(grid)
    return sitk.GetArrayFromImage(sitk.Resample(coarse, reference, sitk.Transform(), sitk.sitkLinear, 0.0))
