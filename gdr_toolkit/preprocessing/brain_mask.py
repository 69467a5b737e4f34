"""Brain mask of a full-head pre-contrast scan by affine registration of the MNI152 atlas (method.md 1.2).

The MNI152 T1 template is skull-stripped, while clinical scans show the whole head (scalp, skull, face,
neck). Registering the bare brain to a head drags the brain outline towards the scalp. The atlas is
therefore first made head-like: around the template's brain mask a synthetic dark CSF/skull layer and a
bright scalp shell (fat is bright on T1w) are added, at distances measured in millimetres. The
head-like atlas is then registered to the scan with a rigid stage (initialised by the centres of
gravity, which works for any storage orientation since everything happens in physical space) followed
by an affine stage, both with Mattes mutual information (robust to the unknown intensity scale and
contrast), on isotropic grids of ``registration_spacing_mm`` (2 mm by default). The synthetic shell only
roughly matches a real scalp/skull (thickness varies between people), which biases the scaling; so a
final affine stage registers the brain-only template with the metric restricted to the brain found so
far dilated by 4 mm, where brain structure, not the scalp, drives the fit. Finally the 1 mm atlas brain
mask is mapped onto the scan's grid with linear interpolation and thresholded at 0.5.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.atlas import load_mni152_atlas
from gdr_toolkit.dataset.image_io import check_finite, require_scalar_3d
from gdr_toolkit.preprocessing.masks import dilated_mask
from gdr_toolkit.preprocessing.registration import RegistrationOptions, RegistrationResult, register
from gdr_toolkit.preprocessing.resampling import resample_isotropic

logger = logging.getLogger(__name__)

# Synthetic head layers around the atlas brain mask: (outer distance from the brain surface in mm,
# intensity relative to the template's [0, 1] scale). CSF and skull are dark on T1w, scalp fat bright.
_HEAD_LAYERS_MM = ((3.0, 0.08), (8.0, 0.03), (14.0, 0.75))
_ATLAS_PADDING_MM = 20.0
_REFINEMENT_MARGIN_MM = 4.0  # brain-mask dilation restricting the refinement metric


@dataclass(frozen=True)
class BrainMaskOptions:
    """Options of the atlas brain mask.

    Attributes:
        registration_spacing_mm: isotropic grid spacing (mm) of both images during registration.
        number_of_resolutions: pyramid levels of each registration stage.
        iterations_per_resolution: optimiser iterations per level and stage.
        number_of_threads: elastix threads; None lets ITK choose.
        threshold: the warped (linearly interpolated) atlas mask is binarised at ``>= threshold``.
    """

    registration_spacing_mm: float = 2.0
    number_of_resolutions: int = 3
    iterations_per_resolution: int = 128
    number_of_threads: int | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0.5 <= self.registration_spacing_mm <= 8.0:
            raise ValueError(
                f"registration_spacing_mm must be in [0.5, 8] mm, got {self.registration_spacing_mm}."
            )
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}.")


@dataclass(frozen=True)
class BrainMaskResult:
    """Atlas brain mask on the scan's grid and the transform that placed it.

    Attributes:
        mask: uint8 (0/1) image with the pre-contrast scan's grid (size, spacing, origin, direction).
        registration: maps scan physical points (mm) to MNI152 atlas physical points (mm); stages
            rigid, affine (head-like atlas) and affine (brain-only refinement), in application order.
    """

    mask: sitk.Image
    registration: RegistrationResult


def atlas_brain_mask(
    pre_contrast: sitk.Image, options: BrainMaskOptions = BrainMaskOptions()
) -> BrainMaskResult:
    """Brain mask of a full-head T1w scan by affine registration of a head-like MNI152 atlas.

    Args:
        pre_contrast: full-head pre-contrast T1w scan, 3D scalar, any spacing/orientation (LPS).
        options: registration grid spacing and effort.

    Returns:
        The mask on ``pre_contrast``'s grid (uint8) and the scan -> atlas transform.

    Raises:
        ValueError: the scan is not 3D scalar, holds NaN/inf, or is constant.
    """
    require_scalar_3d(pre_contrast, "pre_contrast")
    check_finite(pre_contrast, "pre_contrast")
    values = sitk.GetArrayViewFromImage(pre_contrast)
    if float(values.max()) <= float(values.min()):
        raise ValueError(f"pre_contrast is constant (all voxels {float(values.min())}); cannot register.")
    fixed = resample_isotropic(sitk.Cast(pre_contrast, sitk.sitkFloat32), options.registration_spacing_mm)
    registration = _register_atlas(fixed, options)
    warped = registration.resample(load_mni152_atlas().brain_mask, pre_contrast, interpolation="linear")
    mask = sitk.Cast(sitk.GreaterEqual(warped, options.threshold), sitk.sitkUInt8)
    voxel_ml = float(np.prod(pre_contrast.GetSpacing())) / 1000.0
    logger.info("atlas brain mask: %.0f ml", float(sitk.GetArrayViewFromImage(mask).sum()) * voxel_ml)
    return BrainMaskResult(mask=mask, registration=registration)


def _register_atlas(fixed: sitk.Image, options: BrainMaskOptions) -> RegistrationResult:
    """Head-like atlas: rigid (moments) then affine; then an affine refinement of the brain-only template
    with the metric restricted to the brain found so far, dilated by ``_REFINEMENT_MARGIN_MM``."""
    stage = RegistrationOptions(
        number_of_resolutions=options.number_of_resolutions,
        iterations_per_resolution=options.iterations_per_resolution,
        number_of_threads=options.number_of_threads,
        initialisation="moments",
    )
    affine = replace(stage, transform="affine")
    head = register(fixed, head_like_atlas(options.registration_spacing_mm), (stage, affine))
    atlas = load_mni152_atlas()
    first_mask = head.resample(atlas.brain_mask, fixed, interpolation="nearest")
    fixed_mask = dilated_mask(first_mask, _REFINEMENT_MARGIN_MM, "the first atlas brain mask")
    brain_only = resample_isotropic(atlas.t1, options.registration_spacing_mm)
    refinement = replace(affine, number_of_resolutions=max(options.number_of_resolutions - 1, 1))
    return register(fixed, brain_only, refinement, fixed_mask=fixed_mask, initial=head)


@lru_cache(maxsize=4)
def head_like_atlas(spacing_mm: float) -> sitk.Image:
    """The MNI152 T1 template with a synthetic CSF/skull/scalp shell, on an isotropic grid.

    Args:
        spacing_mm: isotropic output spacing (mm); the 1 mm template grid is padded by 20 mm.

    Returns:
        Float32 image (template scale [0, 1]) in MNI152 physical space (LPS).
    """
    atlas = load_mni152_atlas()
    padding = [int(_ATLAS_PADDING_MM / s) for s in atlas.t1.GetSpacing()]
    t1 = sitk.ConstantPad(atlas.t1, padding, padding, 0.0)
    brain = sitk.ConstantPad(atlas.brain_mask, padding, padding, 0)
    distance = sitk.GetArrayFromImage(
        sitk.SignedMaurerDistanceMap(brain, insideIsPositive=False, useImageSpacing=True)
    )
    head = sitk.GetArrayFromImage(t1)
    inner = 0.0
    for outer, intensity in _HEAD_LAYERS_MM:
        head[(distance > inner) & (distance <= outer)] = intensity
        inner = outer
    head_image = sitk.GetImageFromArray(head)
    head_image.CopyInformation(t1)
    return resample_isotropic(head_image, spacing_mm)
