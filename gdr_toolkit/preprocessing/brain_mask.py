"""Brain mask of a pre-contrast scan: its own support when skull-stripped, else a refined MNI152 atlas fit.

Order (documentation/registration.md, "Brain mask"):

1. **Skull-stripped scans** (:mod:`skull_stripped`: exact-zero background around one connected support
   without a scalp/skull shell) get their support, holes filled, as brain mask; no atlas is registered
   (``source == "support"``).
2. Otherwise (``source == "atlas"``) the MNI152 template is placed affinely. It is skull-stripped while
   clinical scans show the whole head, so it is first made head-like: around the template's brain mask a
   synthetic dark CSF/skull layer and a bright scalp shell (fat is bright on T1w) are added, at distances
   in millimetres. The head-like atlas is registered to the scan with a rigid stage (initialised by the
   centres of gravity, which works for any storage orientation since everything happens in physical
   space) then an affine stage, both with Mattes mutual information (robust to the unknown intensity
   scale and contrast), on isotropic grids of ``registration_spacing_mm`` (4 mm: the atlas only needs to
   be within about 2 mm, the refinement does the rest). The synthetic shell only roughly matches a real
   scalp/skull, so a final affine stage registers the brain-only template with the metric restricted to
   the brain found so far dilated by 4 mm.
3. The warped atlas mask is refined on the scan's own intensities (:mod:`mask_refinement`) on an
   isotropic grid of ``refinement_spacing_mm`` (2 mm) and mapped onto the scan's grid (linear, >= 0.5).
4. The volume is checked against a range of adult brains (:data:`ADULT_BRAIN_VOLUME_ML`): outside, a
   warning is logged and returned in :attr:`BrainMaskResult.warnings`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.atlas import load_mni152_atlas
from gdr_toolkit.dataset.image_io import check_finite, require_scalar_3d
from gdr_toolkit.preprocessing.mask_refinement import RefinementOptions, refine_brain_mask
from gdr_toolkit.preprocessing.masks import dilated_mask
from gdr_toolkit.preprocessing.registration import RegistrationOptions, RegistrationResult, register
from gdr_toolkit.preprocessing.resampling import resample_isotropic
from gdr_toolkit.preprocessing.skull_stripped import (
    SkullStrippedCheck,
    SkullStrippedOptions,
    check_skull_stripped,
    support_mask,
)

logger = logging.getLogger(__name__)

# Synthetic head layers around the atlas brain mask: (outer distance from the brain surface in mm,
# intensity relative to the template's [0, 1] scale). CSF and skull are dark on T1w, scalp fat bright.
_HEAD_LAYERS_MM = ((3.0, 0.08), (8.0, 0.03), (14.0, 0.75))
_ATLAS_PADDING_MM = 20.0
_REFINEMENT_MARGIN_MM = 4.0  # brain-mask dilation restricting the refinement metric

# Plausible volume of an adult brain mask (ml): brain tissue is about 1,000-1,450 ml (Allen et al.,
# Am J Phys Anthropol 118:341, 2002: means 1,131 ml in women, 1,273 ml in men) and the intracranial
# volume, the most a mask that includes all CSF can hold, up to about 1,900-2,000 ml (Buckner et al.,
# NeuroImage 23:724, 2004). A partial slab legitimately gives less.
ADULT_BRAIN_VOLUME_ML = (900.0, 2000.0)

BrainMaskSource = Literal["support", "atlas"]
SkullStrippedRule = Literal["auto", "never"]


@dataclass(frozen=True)
class BrainMaskOptions:
    """Options of the brain mask.

    Attributes:
        registration_spacing_mm: isotropic grid spacing (mm) of both images during registration.
        number_of_resolutions: pyramid levels of each registration stage.
        iterations_per_resolution: optimiser iterations per level and stage.
        number_of_threads: elastix threads; None lets ITK choose.
        threshold: the warped (linearly interpolated) atlas mask is binarised at ``>= threshold``.
        skull_stripped: "auto" uses the support of scans detected as skull-stripped; "never" always
            registers the atlas.
        skull_stripped_rule: thresholds of the detection.
        refine: refine the atlas mask on the scan's intensities (False: the warped atlas mask).
        refinement_spacing_mm: isotropic grid (mm) of the refinement.
        refinement: distances and limits of the refinement.
        volume_range_ml: plausible mask volumes (ml); outside, a warning.
    """

    registration_spacing_mm: float = 4.0
    number_of_resolutions: int = 2
    iterations_per_resolution: int = 128
    number_of_threads: int | None = None
    threshold: float = 0.5
    skull_stripped: SkullStrippedRule = "auto"
    skull_stripped_rule: SkullStrippedOptions = field(default_factory=SkullStrippedOptions)
    refine: bool = True
    refinement_spacing_mm: float = 2.0
    refinement: RefinementOptions = field(default_factory=RefinementOptions)
    volume_range_ml: tuple[float, float] = ADULT_BRAIN_VOLUME_ML

    def __post_init__(self) -> None:
        for name in ("registration_spacing_mm", "refinement_spacing_mm"):
            if not 0.5 <= getattr(self, name) <= 8.0:
                raise ValueError(f"{name} must be in [0.5, 8] mm, got {getattr(self, name)}.")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}.")
        if self.skull_stripped not in ("auto", "never"):
            raise ValueError(f"skull_stripped must be 'auto' or 'never', got {self.skull_stripped!r}.")
        if not 0.0 <= self.volume_range_ml[0] < self.volume_range_ml[1]:
            raise ValueError(
                f"volume_range_ml must be (low, high) with 0 <= low < high, got {self.volume_range_ml}."
            )


@dataclass(frozen=True)
class BrainMaskResult:
    """Brain mask on the scan's grid, where it came from, and how it was placed.

    Attributes:
        mask: uint8 (0/1) image with the pre-contrast scan's grid (size, spacing, origin, direction).
        registration: maps scan physical points (mm) to MNI152 atlas physical points (mm); stages
            rigid, affine (head-like atlas) and affine (brain-only refinement), in application order;
            None when ``source == "support"``.
        source: "support" (skull-stripped scan: its own support) or "atlas".
        volume_ml: the mask's volume.
        warnings: human-readable warnings (implausible volume, refinement not used); also logged.
        skull_stripped: the detection's measurements (None with ``skull_stripped="never"``).
    """

    mask: sitk.Image
    registration: RegistrationResult | None
    source: BrainMaskSource = "atlas"
    volume_ml: float = 0.0
    warnings: tuple[str, ...] = ()
    skull_stripped: SkullStrippedCheck | None = None


def atlas_brain_mask(
    pre_contrast: sitk.Image, options: BrainMaskOptions = BrainMaskOptions()
) -> BrainMaskResult:
    """Brain mask of a T1w scan: the support of a skull-stripped scan, else a refined atlas fit.

    Args:
        pre_contrast: pre-contrast T1w scan, 3D scalar, any spacing/orientation (LPS): a full head, a
            slab, or a skull-stripped brain.
        options: detection, registration and refinement settings.

    Returns:
        The mask on ``pre_contrast``'s grid (uint8), its source and volume, warnings, and the scan ->
        atlas transform (None for a skull-stripped scan).

    Raises:
        ValueError: the scan is not 3D scalar, holds NaN/inf, or is constant.
    """
    require_scalar_3d(pre_contrast, "pre_contrast")
    check_finite(pre_contrast, "pre_contrast")
    values = sitk.GetArrayViewFromImage(pre_contrast)
    if float(values.max()) <= float(values.min()):
        raise ValueError(f"pre_contrast is constant (all voxels {float(values.min())}); cannot register.")
    check = None
    if options.skull_stripped == "auto":
        check = check_skull_stripped(values, pre_contrast.GetSpacing()[::-1], options.skull_stripped_rule)
        logger.debug("skull-stripped check: %s", check)
        if check.skull_stripped:
            mask = _image_like(support_mask(values).astype(np.uint8), pre_contrast)
            return _finish(mask, None, "support", [], check, options)
    scan = sitk.Cast(pre_contrast, sitk.sitkFloat32)
    grid = resample_isotropic(scan, options.refinement_spacing_mm) if options.refine else None
    # resampling the refinement grid again is cheaper and gives the same anti-aliasing (sigmas add up)
    source = (
        grid
        if grid is not None and options.refinement_spacing_mm <= options.registration_spacing_mm
        else scan
    )
    fixed = resample_isotropic(source, options.registration_spacing_mm)
    registration = _register_atlas(fixed, options)
    warnings: list[str] = []
    if grid is not None:
        mask = _refined_mask(pre_contrast, grid, registration, options, warnings)
    else:
        warped = registration.resample(load_mni152_atlas().brain_mask, pre_contrast, interpolation="linear")
        mask = sitk.Cast(sitk.GreaterEqual(warped, options.threshold), sitk.sitkUInt8)
    return _finish(mask, registration, "atlas", warnings, check, options)


def _refined_mask(
    pre_contrast: sitk.Image,
    grid: sitk.Image,
    registration: RegistrationResult,
    options: BrainMaskOptions,
    warnings: list[str],
) -> sitk.Image:
    """The atlas mask refined on the scan's intensities (:mod:`mask_refinement`) on ``grid`` (the scan on
    the refinement grid), mapped onto the scan's grid (linear, >= 0.5)."""
    warped = registration.resample(load_mni152_atlas().brain_mask, grid, interpolation="linear")
    atlas = sitk.GetArrayViewFromImage(warped) >= options.threshold
    spacing_zyx = (options.refinement_spacing_mm,) * 3
    refined = refine_brain_mask(sitk.GetArrayViewFromImage(grid), atlas, spacing_zyx, options.refinement)
    if refined.fallback_reason is not None:
        warnings.append(f"brain mask refinement not used ({refined.fallback_reason}); the atlas mask is kept")
    soft = _image_like(refined.mask.astype(np.float32), grid)
    on_scan = sitk.Resample(soft, pre_contrast, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return sitk.Cast(sitk.GreaterEqual(on_scan, 0.5), sitk.sitkUInt8)


def _finish(
    mask: sitk.Image,
    registration: RegistrationResult | None,
    source: BrainMaskSource,
    warnings: list[str],
    check: SkullStrippedCheck | None,
    options: BrainMaskOptions,
) -> BrainMaskResult:
    voxel_ml = float(np.prod(mask.GetSpacing())) / 1000.0
    volume = float(sitk.GetArrayViewFromImage(mask).astype(bool).sum()) * voxel_ml
    warnings = [*warnings, *volume_warnings(volume, options.volume_range_ml)]
    for warning in warnings:
        logger.warning("brain mask: %s", warning)
    logger.info("brain mask (%s): %.0f ml", source, volume)
    return BrainMaskResult(mask, registration, source, volume, tuple(warnings), check)


def volume_warnings(
    volume_ml: float, volume_range_ml: tuple[float, float] = ADULT_BRAIN_VOLUME_ML
) -> list[str]:
    """A warning when a brain mask's volume lies outside the plausible range of adult brains.

    Args:
        volume_ml: the mask's volume (ml).
        volume_range_ml: (low, high) plausible volumes (ml), :data:`ADULT_BRAIN_VOLUME_ML` by default.

    Returns:
        One message, or none.
    """
    low, high = volume_range_ml
    if low <= volume_ml <= high:
        return []
    side = "below" if volume_ml < low else "above"
    return [
        f"brain mask volume {volume_ml:.0f} ml is {side} the plausible range of adult brains "
        f"[{low:.0f}, {high:.0f}] ml (a partial slab, a child, or a failed mask)"
    ]


def _image_like(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


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
    first_mask = head.resample(load_mni152_atlas().brain_mask, fixed, interpolation="nearest")
    fixed_mask = dilated_mask(first_mask, _REFINEMENT_MARGIN_MM, "the first atlas brain mask")
    refinement = replace(affine, number_of_resolutions=max(options.number_of_resolutions - 1, 1))
    return register(
        fixed,
        brain_only_atlas(options.registration_spacing_mm),
        refinement,
        fixed_mask=fixed_mask,
        initial=head,
    )


@lru_cache(maxsize=4)
def brain_only_atlas(spacing_mm: float) -> sitk.Image:
    """The MNI152 T1 template (brain only) on an isotropic grid of ``spacing_mm``, once per process."""
    return resample_isotropic(load_mni152_atlas().t1, spacing_mm)


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
