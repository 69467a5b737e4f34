"""Rigid co-registration of the contrast-enhanced scans to the pre-contrast scan (documentation/method.md 1.3).

LD (and SD, when present) are registered to PC with a rigid (Euler) transform and Mattes mutual
information, then resampled onto PC's grid. Mutual information tolerates the contrast changes between
pre- and post-contrast scans. The metric is restricted to the overlap of the two scans: a dilated brain
mask, when given, is the fixed mask (neck and jaw motion, not rigid with the brain, do not pull the
result), and the moving scan's own field of view less a margin is the moving mask (its border, where
a slab cuts through the head, does not attract). The optimiser starts from the identity in scanner
coordinates, which PC, LD and SD of one session share; centring the images' boxes would be wrong by half
the missing extent when a slab covers only part of the head.

Each result carries its valid-data mask (where the scan has data on PC's grid: a ones-image on the
scan's own grid resampled with the found transform, nearest neighbour) and its registration quality
(the share of the brain inside that field of view and a rank correlation with PC inside brain and field
of view), judged against :class:`RegistrationQualityOptions`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.preprocessing.masks import dilated_mask, field_of_view
from gdr_toolkit.preprocessing.registration import (
    Initialisation,
    RegistrationOptions,
    RegistrationResult,
    register,
)
from gdr_toolkit.preprocessing.working_grid import working_mask

logger = logging.getLogger(__name__)

_MIN_SIMILARITY_VOXELS = 1000
_MAX_SIMILARITY_VOXELS = 200_000
#: Co-registration runs on 2 mm blocks of finer scans (``RegistrationOptions.working_spacing_mm``): on
#: simulated 1 mm heads 5x less elastix CPU time for 0.03 -> 0.06 mm mean error (documentation/registration.md).
WORKING_SPACING_MM = 2.0


@dataclass(frozen=True)
class RegistrationQualityOptions:
    """Thresholds that accept a co-registration (documentation/preprocessing_numerics.md).

    Attributes:
        min_fov_overlap: least share of the brain mask inside the CE scan's field of view (0-1).
        min_similarity: least Spearman rank correlation between the resampled CE scan and PC inside
            brain and field of view (-1 to 1). A registered simulated 2 mm LD gives 0.92, the same LD
            5 / 10 / 20 mm off 0.54 / 0.17 / 0.03 (documentation/registration.md).
    """

    min_fov_overlap: float = 0.5
    min_similarity: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_fov_overlap <= 1.0:
            raise ValueError(f"min_fov_overlap must be in [0, 1], got {self.min_fov_overlap}.")
        if not -1.0 <= self.min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be in [-1, 1], got {self.min_similarity}.")


@dataclass(frozen=True)
class RegistrationQuality:
    """How well one CE scan was registered to PC.

    Attributes:
        fov_overlap: share of the brain mask (or of PC's grid without a mask) inside the scan's field
            of view after registration (0-1).
        similarity: Spearman rank correlation of the resampled scan and PC over brain & field of view
            (0 when fewer than 1,000 voxels overlap).
        accepted: both at or above the thresholds of :class:`RegistrationQualityOptions`.
    """

    fov_overlap: float
    similarity: float
    accepted: bool

    def to_json_dict(self) -> dict[str, Any]:
        return {"fov_overlap": self.fov_overlap, "similarity": self.similarity, "accepted": self.accepted}


def _default_registration() -> RegistrationOptions:
    return RegistrationOptions(initialisation="none", working_spacing_mm=WORKING_SPACING_MM)


@dataclass(frozen=True)
class CoregistrationOptions:
    """Options of the co-registration.

    Attributes:
        registration: elastix stage settings; ``transform`` must be "rigid" (the method's choice). The
            default starts from the identity in scanner coordinates (``initialisation="none"``) and
            registers on 2 mm blocks of finer scans (``working_spacing_mm``).
        interpolation: resampling of the moving scan onto the PC grid, "bspline" (cubic) or "linear".
            B-spline can overshoot slightly below 0 at sharp edges.
        mask_dilation_mm: the brain mask, when given, is dilated by this radius (mm) and used as fixed
            mask; 0 uses it as is. With a working grid the mask is shrunk to it first (a block is
            inside when any voxel is), then dilated.
        fov_margin_mm: the moving mask is the moving scan's box less this margin (mm) at every face.
        quality: thresholds of the registration quality.
        retry_initialisation: when the first registration is not accepted, one more from this start
            ("moments": centres of gravity inside the masks; "geometry": box centres; "none": no retry);
            the result with the higher similarity is kept.
    """

    registration: RegistrationOptions = field(default_factory=_default_registration)
    interpolation: Literal["bspline", "linear"] = "bspline"
    mask_dilation_mm: float = 10.0
    fov_margin_mm: float = 4.0
    quality: RegistrationQualityOptions = field(default_factory=RegistrationQualityOptions)
    retry_initialisation: Initialisation = "moments"

    def __post_init__(self) -> None:
        if self.registration.transform != "rigid":
            raise ValueError(
                f"co-registration is rigid; got registration.transform={self.registration.transform!r}."
            )
        if self.interpolation not in ("bspline", "linear"):
            raise ValueError(f"interpolation must be 'bspline' or 'linear', got {self.interpolation!r}.")
        for name in ("mask_dilation_mm", "fov_margin_mm"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")


@dataclass(frozen=True)
class CoregisteredScan:
    """One scan on the reference grid.

    Attributes:
        image: float32 image with the reference (PC) grid; 0 outside the scan's field of view.
        registration: maps PC physical points (mm) to the scan's physical points (mm).
        valid_mask: uint8 (0/1) image on the reference grid, 1 where the scan has data.
        quality: field-of-view overlap and similarity, and whether they pass the thresholds.
    """

    image: sitk.Image
    registration: RegistrationResult
    valid_mask: sitk.Image
    quality: RegistrationQuality


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
    """Rigidly register ``moving`` to ``reference`` and resample it and its field of view onto the
    reference grid.

    Args:
        moving: 3D scalar scan (e.g. LD), any geometry; may cover only part of the reference's head.
        reference: 3D scalar scan whose grid is the target (PC).
        brain_mask: optional mask on the reference's grid (non-zero = brain); dilated and used as fixed
            mask, and the region of the quality measure.
        options: registration, resampling and quality options.

    Returns:
        The resampled scan, the reference -> moving transform, the valid-data mask and the quality.

    Raises:
        ValueError: non-3D or non-finite input, or an empty brain mask.
    """
    fixed_mask = None
    if brain_mask is not None:  # dilated on the working grid elastix sees (a 1 mm mask: ~10x cheaper)
        coarse = working_mask(brain_mask, options.registration.working_spacing_mm)
        fixed_mask = dilated_mask(coarse, options.mask_dilation_mm)
    masks = {"fixed_mask": fixed_mask, "moving_mask": field_of_view(moving, options.fov_margin_mm)}
    try:
        best = _registered(moving, reference, brain_mask, masks, options.registration, options)
    except RuntimeError as error:  # e.g. too few mask samples at elastix's coarsest level (thin slabs)
        logger.warning(
            "co-registration with the moving field-of-view mask failed (%s); retrying without", error
        )
        masks = {**masks, "moving_mask": None}
        best = _registered(moving, reference, brain_mask, masks, options.registration, options)
    if not best.quality.accepted and options.retry_initialisation != "none":
        logger.info(
            "co-registration not accepted (%s); retrying from the %s",
            best.quality,
            options.retry_initialisation,
        )
        retry_stage = replace(options.registration, initialisation=options.retry_initialisation)
        retry = _registered(moving, reference, brain_mask, masks, retry_stage, options)
        best = retry if retry.quality.similarity > best.quality.similarity else best
    logger.debug(
        "co-registered scan with parameters %s, quality %s",
        best.registration.to_sitk_transform().GetParameters(),
        best.quality,
    )
    return best


def _registered(
    moving: sitk.Image,
    reference: sitk.Image,
    brain_mask: sitk.Image | None,
    masks: dict[str, sitk.Image | None],
    stage: RegistrationOptions,
    options: CoregistrationOptions,
) -> CoregisteredScan:
    """One registration from ``stage``'s initialisation, resampled and judged."""
    registration = register(reference, moving, stage, masks["fixed_mask"], masks["moving_mask"])
    return apply_coregistration(moving, reference, brain_mask, registration, options)


def apply_coregistration(
    moving: sitk.Image,
    reference: sitk.Image,
    brain_mask: sitk.Image | None,
    registration: RegistrationResult,
    options: CoregistrationOptions,
    resampled: sitk.Image | None = None,
) -> CoregisteredScan:
    """Resample ``moving`` and its field of view onto the reference grid with a found ``registration``
    (reference -> moving) and judge the result (:func:`registration_quality`). ``resampled``: ``moving``
    already resampled with this registration and ``options.interpolation`` (stored by the fingerprint,
    ``registration_cache``), used instead of resampling it again."""
    image = (
        registration.resample(moving, reference, interpolation=options.interpolation)
        if resampled is None
        else resampled
    )
    valid_mask = registration.resample(field_of_view(moving), reference, interpolation="nearest")
    quality = registration_quality(image, reference, valid_mask, brain_mask, options.quality)
    return CoregisteredScan(image=image, registration=registration, valid_mask=valid_mask, quality=quality)


def registration_quality(
    resampled: sitk.Image,
    reference: sitk.Image,
    valid_mask: sitk.Image,
    brain_mask: sitk.Image | None = None,
    options: RegistrationQualityOptions = RegistrationQualityOptions(),
) -> RegistrationQuality:
    """Field-of-view overlap and rank similarity of a CE scan resampled onto the reference grid.

    Args:
        resampled: the CE scan on the reference grid.
        reference: PC (same grid).
        valid_mask: where the CE scan has data on the reference grid (non-zero).
        brain_mask: the region judged (non-zero); None judges the whole grid.
        options: acceptance thresholds.

    Returns:
        :class:`RegistrationQuality`. The similarity is Spearman's rank correlation over at most 200,000
        evenly strided voxels of brain & valid; ranks make it independent of the intensity scale and
        leave a few percent of enhancing voxels little weight.
    """
    valid = sitk.GetArrayViewFromImage(valid_mask) > 0
    region = valid.copy() if brain_mask is None else sitk.GetArrayViewFromImage(brain_mask) > 0
    overlap = region & valid
    fov_overlap = float(overlap.sum() / max(region.sum(), 1))
    similarity = 0.0
    if overlap.sum() >= _MIN_SIMILARITY_VOXELS:
        stride = max(int(overlap.sum() // _MAX_SIMILARITY_VOXELS), 1)
        first = sitk.GetArrayViewFromImage(resampled)[overlap][::stride]
        second = sitk.GetArrayViewFromImage(reference)[overlap][::stride]
        similarity = _rank_correlation(first, second)
    accepted = fov_overlap >= options.min_fov_overlap and similarity >= options.min_similarity
    return RegistrationQuality(
        fov_overlap=round(fov_overlap, 4), similarity=round(similarity, 4), accepted=accepted
    )


def _rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation (ties broken by order); 0 when either input is constant."""
    ranks = [np.argsort(np.argsort(values, kind="stable")).astype(np.float64) for values in (first, second)]
    if np.ptp(first) == 0 or np.ptp(second) == 0:
        return 0.0
    return float(np.corrcoef(ranks[0], ranks[1])[0, 1])


def coregister_case(
    pre_contrast: sitk.Image,
    low_dose: sitk.Image,
    standard_dose: sitk.Image | None = None,
    brain_mask: sitk.Image | None = None,
    options: CoregistrationOptions = CoregistrationOptions(),
) -> CoregisteredCase:
    """Co-register LD and (optionally) SD to PC; both end on PC's grid (documentation/method.md 1.3).

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
