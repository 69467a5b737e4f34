"""Rigid co-registration of the contrast-enhanced scans to the pre-contrast scan (method.md 1.3).

LD (and SD, when present) are registered to PC with a rigid (Euler) transform and Mattes mutual
information, then resampled onto PC's grid. Mutual information tolerates the contrast changes between
pre- and post-contrast scans; a dilated brain mask, when given, restricts the metric to the brain and
its surroundings so that neck and jaw motion (not rigid with the brain) do not pull the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import SimpleITK as sitk

from gdr_toolkit.preprocessing.registration import RegistrationOptions, RegistrationResult, register

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoregistrationOptions:
    """Options of the co-registration.

    Attributes:
        registration: elastix stage settings; ``transform`` must be "rigid" (the method's choice).
        interpolation: resampling of the moving scan onto the PC grid, "bspline" (cubic) or "linear".
            B-spline can overshoot slightly below 0 at sharp edges.
        mask_dilation_mm: the brain mask, when given, is dilated by this radius (mm) and used as fixed
            mask; 0 uses it as is.
    """

    registration: RegistrationOptions = field(default_factory=RegistrationOptions)
    interpolation: Literal["bspline", "linear"] = "bspline"
    mask_dilation_mm: float = 10.0

    def __post_init__(self) -> None:
        if self.registration.transform != "rigid":
            raise ValueError(
                f"co-registration is rigid; got registration.transform={self.registration.transform!r}."
            )
        if self.interpolation not in ("bspline", "linear"):
            raise ValueError(f"interpolation must be 'bspline' or 'linear', got {self.interpolation!r}.")
        if self.mask_dilation_mm < 0:
            raise ValueError(f"mask_dilation_mm must be >= 0, got {self.mask_dilation_mm}.")


@dataclass(frozen=True)
class CoregisteredScan:
    """One scan on the reference grid.

    Attributes:
        image: float32 image with the reference (PC) grid.
        registration: maps PC physical points (mm) to the scan's physical points (mm).
    """

    image: sitk.Image
    registration: RegistrationResult


@dataclass(frozen=True)
class CoregisteredCase:
    """LD and optional SD on the PC grid.

    Attributes:
        low_dose: the low-dose scan and its transform.
        standard_dose: the standard-dose scan and its transform, or None when no SD was given.
    """

    low_dose: CoregisteredScan
    standard_dose: CoregisteredScan | None


def coregister_to_reference(
    moving: sitk.Image,
    reference: sitk.Image,
    brain_mask: sitk.Image | None = None,
    options: CoregistrationOptions = CoregistrationOptions(),
) -> CoregisteredScan:
    """Rigidly register ``moving`` to ``reference`` and resample it onto the reference grid.

    Args:
        moving: 3D scalar scan (e.g. LD), any geometry.
        reference: 3D scalar scan whose grid is the target (PC).
        brain_mask: optional mask on the reference's grid (non-zero = brain); dilated and used as fixed
            mask.
        options: registration and resampling options.

    Returns:
        The resampled scan and the reference -> moving transform.

    Raises:
        ValueError: non-3D or non-finite input, or an empty brain mask.
    """
    fixed_mask = None
    if brain_mask is not None:
        fixed_mask = _dilated(brain_mask, options.mask_dilation_mm)
    registration = register(reference, moving, options.registration, fixed_mask=fixed_mask)
    image = registration.resample(moving, reference, interpolation=options.interpolation)
    logger.debug("co-registered scan with parameters %s", registration.to_sitk_transform().GetParameters())
    return CoregisteredScan(image=image, registration=registration)


def coregister_case(
    pre_contrast: sitk.Image,
    low_dose: sitk.Image,
    standard_dose: sitk.Image | None = None,
    brain_mask: sitk.Image | None = None,
    options: CoregistrationOptions = CoregistrationOptions(),
) -> CoregisteredCase:
    """Co-register LD and (optionally) SD to PC; both end on PC's grid (method.md 1.3).

    Args:
        pre_contrast: PC scan, the reference.
        low_dose: LD scan.
        standard_dose: SD scan (training cases), or None.
        brain_mask: optional brain mask on PC's grid, see :func:`coregister_to_reference`.
        options: registration and resampling options.

    Returns:
        The co-registered LD and SD (None when not given).
    """
    low = coregister_to_reference(low_dose, pre_contrast, brain_mask, options)
    standard = None
    if standard_dose is not None:
        standard = coregister_to_reference(standard_dose, pre_contrast, brain_mask, options)
    return CoregisteredCase(low_dose=low, standard_dose=standard)


def _dilated(mask: sitk.Image, radius_mm: float) -> sitk.Image:
    """Binary mask dilated by a ball of ``radius_mm`` (voxel radius per axis from the spacing)."""
    binary = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)
    if not sitk.GetArrayViewFromImage(binary).any():
        raise ValueError("brain_mask is empty (no non-zero voxel); pass None to register without a mask.")
    if radius_mm <= 0:
        return binary
    radius = [max(int(round(radius_mm / spacing)), 0) for spacing in mask.GetSpacing()]
    return sitk.BinaryDilate(binary, radius, sitk.sitkBall)
