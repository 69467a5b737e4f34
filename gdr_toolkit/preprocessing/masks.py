"""Binary masks in physical units: dilation by a radius in mm, and a scan's field of view.

The one place where masks are grown or where "where does this scan have data" is defined
(documentation/preprocessing_numerics.md, "Valid-data mask").
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def dilated_mask(mask: sitk.Image, radius_mm: float, name: str = "brain_mask") -> sitk.Image:
    """Binary mask (non-zero = inside) dilated by a ball of ``radius_mm``.

    Args:
        mask: 3D mask, any pixel type and grid.
        radius_mm: ball radius in mm; the voxel radius per axis is round(radius / spacing), at least 1
            when ``radius_mm`` > 0. 0 returns the binarised mask.
        name: how the mask is named in errors.

    Returns:
        uint8 (0/1) image on ``mask``'s grid.

    Raises:
        ValueError: the mask has no non-zero voxel, or the radius is negative.
    """
    if radius_mm < 0:
        raise ValueError(f"dilation radius must be >= 0 mm, got {radius_mm}.")
    binary = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)
    if not sitk.GetArrayViewFromImage(binary).any():
        raise ValueError(f"{name} is empty (no non-zero voxel); pass None to register without a mask.")
    if radius_mm == 0:
        return binary
    radius = [max(int(round(radius_mm / spacing)), 1) for spacing in mask.GetSpacing()]
    return sitk.BinaryDilate(binary, radius, sitk.sitkBall)


def field_of_view(image: sitk.Image, margin_mm: float = 0.0) -> sitk.Image:
    """Where ``image`` has data, on its own grid: its whole box, less ``margin_mm`` at every face.

    Args:
        image: 3D image (only its grid is used; the intensities are never looked at).
        margin_mm: border removed on each face, round(margin / spacing) voxels per axis, at most
            leaving the central voxel.

    Returns:
        uint8 (0/1) image on ``image``'s grid.
    """
    size_zyx = np.array(image.GetSize()[::-1])
    border = np.array([int(round(margin_mm / spacing)) for spacing in image.GetSpacing()[::-1]])
    border = np.minimum(border, (size_zyx - 1) // 2)
    inside = np.zeros(size_zyx, dtype=np.uint8)
    inside[tuple(slice(b, n - b) for b, n in zip(border, size_zyx, strict=True))] = 1
    mask = sitk.GetImageFromArray(inside)
    mask.CopyInformation(image)
    return mask
