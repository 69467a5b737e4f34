"""Brain-extracted (skull-stripped) scans as public datasets such as BraTS distribute them.

A skull-stripped scan is the acquired scan multiplied by a brain mask: exactly zero outside it, the
acquired values (noise included) inside. The simulator uses the case's true brain mask on each scan's own
grid (after that scan's motion), dilated by a drawn margin in mm, since stripping tools keep a rim of CSF
and dura around the brain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage


def dilated_mask(brain: np.ndarray, spacing_xyz_mm: Sequence[float], dilation_mm: float) -> np.ndarray:
    """The voxels within ``dilation_mm`` of ``brain`` (Euclidean distance between voxel centres).

    Args:
        brain: boolean (or 0/1) array (z, y, x).
        spacing_xyz_mm: voxel size in mm, (x, y, z) order as ``GetSpacing()``.
        dilation_mm: margin in mm (>= 0; 0 returns the mask itself).

    Returns:
        Boolean array of the same shape.
    """
    if dilation_mm < 0:
        raise ValueError(f"dilation_mm must be >= 0, got {dilation_mm}.")
    inside = np.asarray(brain).astype(bool)
    if dilation_mm == 0 or not inside.any():
        return inside
    distance = ndimage.distance_transform_edt(~inside, sampling=list(spacing_xyz_mm)[::-1])
    return distance <= dilation_mm


def strip(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with exact zeros outside ``mask`` (same shape and dtype)."""
    return np.where(mask, image, np.zeros((), dtype=image.dtype)).astype(image.dtype)


def strip_scans(
    images: Mapping[str, sitk.Image], brains: Mapping[str, np.ndarray], dilation_mm: float
) -> dict[str, sitk.Image]:
    """Each image zeroed outside its brain mask (boolean (z, y, x) on its grid) dilated by ``dilation_mm``."""
    stripped = {}
    for scan, image in images.items():
        mask = dilated_mask(brains[scan], image.GetSpacing(), dilation_mm)
        stripped[scan] = sitk.GetImageFromArray(strip(sitk.GetArrayFromImage(image), mask))
        stripped[scan].CopyInformation(image)
    return stripped
