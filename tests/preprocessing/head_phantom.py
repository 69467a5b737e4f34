"""A full-head T1w test phantom with a known brain mask, built from the MNI152 tissue maps.

Deliberately unlike the head-like atlas used by ``brain_mask``: its own contrast (from the GM/WM maps),
layer thicknesses and intensities, a neck, a bias field, Rician noise, and a known affine between the
subject and MNI space. ``stored_as`` puts the same physical head on another grid (spacing, direction).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.atlas import load_mni152_atlas

# subject point -> MNI point
SUBJECT_TO_MNI_SCALES = (1.05, 0.96, 1.03)
SUBJECT_TO_MNI_ANGLES_DEG = (6.0, -4.0, 8.0)
SUBJECT_TO_MNI_TRANSLATION_MM = (6.0, -5.0, 4.0)


def subject_to_mni() -> sitk.AffineTransform:
    rotation = sitk.Euler3DTransform((0, 0, 0), *np.radians(SUBJECT_TO_MNI_ANGLES_DEG))
    affine = sitk.AffineTransform(3)
    affine.SetCenter((0, -18, 18))
    matrix = np.array(rotation.GetMatrix()).reshape(3, 3) @ np.diag(SUBJECT_TO_MNI_SCALES)
    affine.SetMatrix(matrix.ravel().tolist())
    affine.SetTranslation(SUBJECT_TO_MNI_TRANSLATION_MM)
    return affine


def head_phantom(spacing_mm: float = 1.5, seed: int = 0) -> tuple[sitk.Image, sitk.Image]:
    """Full-head phantom (float32, arbitrary units ~0-1000) and its brain mask (uint8), LPS identity grid."""
    atlas = load_mni152_atlas()
    grid = sitk.Image([int(200 / spacing_mm), int(250 / spacing_mm), int(260 / spacing_mm)], sitk.sitkFloat32)
    grid.SetSpacing((spacing_mm,) * 3)
    grid.SetOrigin((-100.0, -140.0, -140.0))
    transform = subject_to_mni()
    grey = sitk.GetArrayFromImage(sitk.Resample(atlas.grey_matter, grid, transform, sitk.sitkLinear, 0.0))
    white = sitk.GetArrayFromImage(sitk.Resample(atlas.white_matter, grid, transform, sitk.sitkLinear, 0.0))
    brain_float = sitk.Resample(
        sitk.Cast(atlas.brain_mask, sitk.sitkFloat32), grid, transform, sitk.sitkLinear
    )
    brain = sitk.Cast(brain_float >= 0.5, sitk.sitkUInt8)
    inside = sitk.GetArrayViewFromImage(brain) > 0
    head = np.where(inside, 0.2 + 0.5 * grey + 0.9 * white, 0.0)
    distance = sitk.GetArrayFromImage(
        sitk.SignedMaurerDistanceMap(brain, insideIsPositive=False, useImageSpacing=True)
    )
    for inner, outer, value in ((0, 2, 0.15), (2, 7, 0.1), (7, 12, 1.3), (12, 14, 0.5)):
        head[(distance > inner) & (distance <= outer)] = value
    z, y, x = np.meshgrid(
        *[
            origin + spacing_mm * np.arange(n)
            for origin, n in zip((-140, -140, -100), head.shape, strict=True)
        ],
        indexing="ij",
    )
    neck = ((x / 45) ** 2 + ((y + 25) / 50) ** 2 <= 1) & (z < -40) & (head == 0)
    head[neck] = 0.6
    rng = np.random.default_rng(seed)
    bias = np.exp(0.15 * np.sin(x / 60) + 0.1 * np.cos(y / 70) + 0.1 * z / 100)
    noisy = head * bias + rng.normal(0, 0.03, head.shape)
    magnitude = np.hypot(noisy, rng.normal(0, 0.03, head.shape)) * 700
    image = sitk.GetImageFromArray(magnitude.astype(np.float32))
    image.CopyInformation(grid)
    return image, brain


def stored_as(
    image: sitk.Image, mask: sitk.Image, spacing_mm: tuple[float, float, float], direction: tuple[float, ...]
) -> tuple[sitk.Image, sitk.Image]:
    """The same physical head on a 260 mm grid with the given spacing and direction, same centre."""
    size = [int(260 / s) for s in spacing_mm]
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing(spacing_mm)
    grid.SetDirection(direction)
    centre = np.array(image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in image.GetSize()]))
    grid.SetOrigin(
        tuple(centre - np.array(grid.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in size])))
    )
    resampled = sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, 0.0)
    resampled_mask = (
        sitk.Resample(sitk.Cast(mask, sitk.sitkFloat32), grid, sitk.Transform(), sitk.sitkLinear) >= 0.5
    )
    return resampled, sitk.Cast(resampled_mask, sitk.sitkUInt8)


def oblique_direction(angle_deg: float = 25.0) -> tuple[float, ...]:
    """An oblique RAS-flipped direction matrix (rotation about a tilted axis times diag(-1, -1, 1))."""
    rotation = np.array(sitk.VersorTransform((0.3, 0.2, 0.9), np.radians(angle_deg)).GetMatrix()).reshape(
        3, 3
    )
    return tuple((rotation @ np.diag([-1.0, -1.0, 1.0])).ravel().tolist())


def dice(first: sitk.Image, second: sitk.Image) -> float:
    a = sitk.GetArrayViewFromImage(first) > 0
    b = sitk.GetArrayViewFromImage(second) > 0
    return float(2 * np.logical_and(a, b).sum() / (a.sum() + b.sum()))
