"""The per-case preprocessing of documentation/method.md sections 1-2: one function from raw images to arrays.

Training (PC, LD, SD) and inference (PC, LD) run this same code path. Nothing is written to disk here;
the preprocessor stores the result and the predictor uses it in memory.

Steps, in order (keys of :attr:`CaseProperties.step_seconds`):
    brain_mask      a skull-stripped PC's support, else affine MNI152 atlas -> PC refined on PC's intensities
                    (``brain_mask_source`` "support" / "atlas"; "given" for a mask passed in)
    coregistration  rigid LD -> PC and SD -> PC, resampled onto PC's grid with valid-data masks and
                    the registration quality
    intensity       each scan divided by its 95th percentile inside the brain
    radiometric     one robust scale per CE scan so that a * x_CE matches x_PC in non-enhancing brain
    noise           z~ = x_CE - x_PC, sigma, local mean/std, eq. 1 (optional)
    target          eq. 2: p_SD and y_SD = p_SD * z_SD, and the per-case gamma statistic (SD only)

Every statistic is taken inside brain & valid (where the CE scan has data); outside a CE scan's field of
view its arrays are filled (documentation/preprocessing_numerics.md, "Valid-data mask").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import check_finite, require_scalar_3d
from gdr_toolkit.dataset.metadata import CaseMetadata
from gdr_toolkit.preprocessing.aligned_scans import AlignedScans, coregister_scans
from gdr_toolkit.preprocessing.brain_mask import BrainMaskOptions, atlas_brain_mask
from gdr_toolkit.preprocessing.contrast_target import contrast_target, gamma_statistic
from gdr_toolkit.preprocessing.coregistration import CoregistrationOptions
from gdr_toolkit.preprocessing.intensity import normalise_intensity
from gdr_toolkit.preprocessing.noise import (
    NoiseOptions,
    SubtractionResult,
    apply_noise_normalisation,
    measure_subtraction,
)
from gdr_toolkit.preprocessing.radiometric import RadiometricOptions, estimate_radiometric_scale
from gdr_toolkit.preprocessing.registration import RegistrationResult
from gdr_toolkit.preprocessing.scan_threads import per_scan
from gdr_toolkit.preprocessing.valid_fill import fill_outside_valid

logger = logging.getLogger(__name__)

INPUT_ARRAYS = ("z_ld", "x_ld", "s_ld")
TARGET_ARRAYS = ("y_sd", "p_sd")


@dataclass(frozen=True)
class CasePreprocessingOptions:
    """Options of every step (defaults: documentation/method.md; see documentation/preprocessing_numerics.md).

    Attributes:
        brain_mask: skull-stripped detection, atlas registration and refinement settings.
        coregistration: rigid LD/SD -> PC registration and interpolation.
        intensity_percentile: percentile inside the brain that each scan is divided by (95).
        radiometric: robust loss of the CE -> PC intensity scale.
        noise: noise estimator, local statistics and whether eq. 1 is applied (``noise.normalise``).
    """

    brain_mask: BrainMaskOptions = field(default_factory=BrainMaskOptions)
    coregistration: CoregistrationOptions = field(default_factory=CoregistrationOptions)
    intensity_percentile: float = 95.0
    radiometric: RadiometricOptions = field(default_factory=RadiometricOptions)
    noise: NoiseOptions = field(default_factory=NoiseOptions)


@dataclass(frozen=True)
class CaseProperties:
    """Everything needed to map a prediction back to PC's grid and units, plus per-case statistics.

    Attributes:
        geometry: PC's grid: ``size`` (x, y, z voxels), ``spacing_mm``, ``origin_mm``, ``direction``.
        intensity_scales: 95th brain percentile of each raw scan (raw units), keys pre_contrast,
            low_dose[, standard_dose]; normalised = raw / scale (CE scans then times their radiometric scale).
        radiometric_scales: a per CE scan (dimensionless).
        noise_sigma_ld: global noise std of z~_LD (normalised units); also a condition input.
        noise_sigma_sd: the same for z~_SD, or None.
        gamma_statistic: <b, s_SD> / <b, s_LD> of this case, or None without SD.
        noise_normalised: whether eq. 1 was applied.
        brain_volume_ml: brain mask volume.
        brain_mask_source: where the brain mask came from: "support" (a skull-stripped PC: its own
            support, no atlas), "atlas" (refined atlas fit) or "given" (passed to ``preprocess_case``).
        brain_mask_warnings: the brain mask's warnings (e.g. a volume outside the range of adult brains).
        condition: metadata condition values (dose_fraction, field_strength_t, relaxivity) or empty.
        transforms: elastix transform parameter maps per registration (atlas, low_dose[, standard_dose]).
        step_seconds: wall time per step.
        coverage: per CE scan (low_dose[, standard_dose]), the share of the brain mask inside its field
            of view after registration (0-1).
        registration_quality: per CE scan, ``fov_overlap`` (= coverage), ``similarity`` (Spearman rank
            correlation with PC inside brain & valid) and ``accepted`` (both at or above
            :class:`~gdr_toolkit.preprocessing.coregistration.RegistrationQualityOptions`).
    """

    geometry: dict[str, list[float]]
    intensity_scales: dict[str, float]
    radiometric_scales: dict[str, float]
    noise_sigma_ld: float
    noise_sigma_sd: float | None
    gamma_statistic: float | None
    noise_normalised: bool
    brain_volume_ml: float
    condition: dict[str, float]
    transforms: dict[str, list[dict[str, list[str]]]]
    step_seconds: dict[str, float]
    coverage: dict[str, float] = field(default_factory=dict)
    registration_quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    brain_mask_source: str = "atlas"
    brain_mask_warnings: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PreprocessedCase:
    """Arrays on PC's grid, shape (z, y, x) as SimpleITK's GetArrayFromImage, plus properties.

    Attributes:
        arrays: float32 unless noted, normalised units:
            ``x_pc``, ``x_ld`` (and ``x_sd``): intensity- and radiometrically normalised scans;
            ``z_ld`` (and ``z_sd``): subtraction images after eq. 1 (or z~ without noise normalisation);
            ``s_ld`` (and ``s_sd``): local noise std of z~; ``brain_mask``: uint8 0/1;
            ``valid_mask``: uint8 0/1, 1 where every CE scan given has data after co-registration;
            with SD: ``p_sd`` (CE mask, eq. 2) and ``y_sd`` (target, eq. 2).
            Outside a CE scan's own field of view its arrays are filled: x := x_pc, z := 0,
            s := median of s inside brain & valid, and p_sd = y_sd = 0.
        properties: see :class:`CaseProperties`.
        registrations: the registration results (atlas, low_dose[, standard_dose]).
    """

    arrays: dict[str, np.ndarray]
    properties: CaseProperties
    registrations: dict[str, RegistrationResult]


def grid_geometry(image: sitk.Image) -> dict[str, list[float]]:
    """An image's grid as JSON-ready lists: size (x, y, z), spacing_mm, origin_mm, direction (row-major)."""
    return {
        "size": [int(value) for value in image.GetSize()],
        "spacing_mm": list(image.GetSpacing()),
        "origin_mm": list(image.GetOrigin()),
        "direction": list(image.GetDirection()),
    }


def condition_values(metadata: CaseMetadata | None) -> dict[str, float]:
    """dose_fraction, field_strength_t and relaxivity (L/(mmol s)) of a case, each where the metadata
    hold it; empty without metadata."""
    if metadata is None:
        return {}
    values = {
        "dose_fraction": metadata.dose_fraction,
        "field_strength_t": metadata.field_strength_t,
        "relaxivity": metadata.relaxivity_l_per_mmol_s,
    }
    return {key: value for key, value in values.items() if value is not None}


class _StepTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 4)


def _checked(image: sitk.Image, name: str) -> sitk.Image:
    require_scalar_3d(image, name)
    check_finite(image, name)
    return sitk.Cast(image, sitk.sitkFloat32)


def _parameter_maps(result: RegistrationResult) -> list[dict[str, list[str]]]:
    return [{key: list(values) for key, values in pmap.items()} for pmap in result.parameter_maps]


def preprocess_case(
    pre_contrast: sitk.Image,
    low_dose: sitk.Image,
    standard_dose: sitk.Image | None = None,
    metadata: CaseMetadata | None = None,
    options: CasePreprocessingOptions | None = None,
    brain_mask: sitk.Image | None = None,
    registrations: Mapping[str, RegistrationResult] | None = None,
    resampled: Mapping[str, sitk.Image] | None = None,
) -> PreprocessedCase:
    """Run documentation/method.md sections 1-2 on one case.

    Args:
        pre_contrast: PC scan (reference grid), any SimpleITK geometry.
        low_dose: LD scan, any grid, may cover only part of the head; rigidly registered to PC.
        standard_dose: SD scan for training cases, or None at inference.
        metadata: scanner metadata; its condition values go into the properties.
        options: step options; defaults follow documentation/method.md.
        brain_mask: a brain mask on PC's grid to use instead of the atlas registration (e.g. a
            mask the user trusts more); None computes the atlas mask.
        registrations: stored registrations to reuse instead of running elastix (registration_cache):
            ``low_dose`` / ``standard_dose`` (PC -> scan) are only resampled with; ``atlas`` is recorded
            in the properties when ``brain_mask`` (the mask it gave) is passed too. None registers all.
        resampled: ``low_dose`` / ``standard_dose`` already resampled onto PC's grid with those stored
            registrations (registration_cache); not resampled again.

    Returns:
        The arrays and properties (see :class:`PreprocessedCase`). A registration below the quality
        thresholds is reported in ``properties.registration_quality`` (``accepted`` False), not raised.

    Raises:
        ValueError: an input that is not 3D, holds NaN/inf, an empty brain mask, or a CE scan whose
            field of view holds no brain voxel.
    """
    options = options or CasePreprocessingOptions()
    timer = _StepTimer()
    scans = {
        "pre_contrast": _checked(pre_contrast, "pre_contrast"),
        "low_dose": _checked(low_dose, "low_dose"),
    }
    if standard_dose is not None:
        scans["standard_dose"] = _checked(standard_dose, "standard_dose")
    aligned, mask_record = align_scans(scans, brain_mask, options, timer, registrations, resampled)
    normalised, intensity_scales, radiometric_scales = normalise_scans(aligned, options, timer)
    spacing = scans["pre_contrast"].GetSpacing()
    with timer.step("noise"):
        subtractions = _subtractions(normalised, aligned, spacing, options.noise)
    arrays = {
        "x_pc": normalised["pre_contrast"],
        **_scan_arrays(normalised, subtractions, aligned, "low_dose"),
    }
    arrays.update(brain_mask=aligned.brain.astype(np.uint8), valid_mask=aligned.all_valid.astype(np.uint8))
    gamma = None
    if "standard_dose" in subtractions:
        with timer.step("target"):
            gamma = gamma_statistic(
                aligned.brain & aligned.all_valid,
                arrays["s_ld"],
                subtractions["standard_dose"].local_statistics.std,
            )
            arrays.update(_target_arrays(normalised, subtractions, aligned))
    scales = {"intensity_scales": intensity_scales, "radiometric_scales": radiometric_scales}
    properties = _properties(scans["pre_contrast"], aligned, subtractions, scales, gamma, metadata, timer)
    properties = replace(properties, **mask_record)
    logger.info(
        "preprocessed case: sigma_LD %.4f, coverage %s, steps %s",
        properties.noise_sigma_ld,
        properties.coverage,
        timer.seconds,
    )
    return PreprocessedCase(arrays=arrays, properties=properties, registrations=aligned.registrations)


def _properties(
    pre_contrast: sitk.Image,
    aligned: AlignedScans,
    subtractions: dict[str, SubtractionResult],
    scales: dict[str, dict[str, float]],
    gamma: float | None,
    metadata: CaseMetadata | None,
    timer: _StepTimer,
) -> CaseProperties:
    """The case's properties (``scales``: intensity_scales and radiometric_scales)."""
    standard = subtractions.get("standard_dose")
    return CaseProperties(
        geometry=grid_geometry(pre_contrast),
        intensity_scales=scales["intensity_scales"],
        radiometric_scales=scales["radiometric_scales"],
        noise_sigma_ld=float(subtractions["low_dose"].noise_sigma),
        noise_sigma_sd=None if standard is None else float(standard.noise_sigma),
        gamma_statistic=gamma,
        noise_normalised=subtractions["low_dose"].noise_normalised,
        brain_volume_ml=float(aligned.brain.sum() * np.prod(pre_contrast.GetSpacing()) / 1000.0),
        condition=condition_values(metadata),
        transforms={name: _parameter_maps(result) for name, result in aligned.registrations.items()},
        step_seconds=timer.seconds,
        coverage={name: quality.fov_overlap for name, quality in aligned.quality.items()},
        registration_quality={name: quality.to_json_dict() for name, quality in aligned.quality.items()},
    )


def align_scans(
    scans: dict[str, sitk.Image],
    brain_mask: sitk.Image | None,
    options: CasePreprocessingOptions,
    timer: _StepTimer | None = None,
    stored: Mapping[str, RegistrationResult] | None = None,
    resampled: Mapping[str, sitk.Image] | None = None,
) -> tuple[AlignedScans, dict[str, Any]]:
    """Brain mask and rigid co-registration: every scan on PC's grid, with its valid-data mask
    (``stored`` registrations are reused instead of running elastix again, ``resampled`` scans instead
    of resampling with them), and the mask's record
    (``brain_mask_source``, ``brain_mask_warnings``). A mask passed with stored registrations came from
    the registration cache: "atlas" when an atlas registration is stored, else "support"."""
    timer, stored = timer or _StepTimer(), stored or {}
    atlas_registration = stored.get("atlas") if brain_mask is not None else None
    warnings: list[str] = []
    if brain_mask is not None:
        source = "atlas" if atlas_registration is not None else ("support" if stored else "given")
    with timer.step("brain_mask"):
        if brain_mask is None:
            result = atlas_brain_mask(scans["pre_contrast"], options.brain_mask)
            brain_mask, atlas_registration = result.mask, result.registration
            source, warnings = result.source, list(result.warnings)
    with timer.step("coregistration"):
        aligned = coregister_scans(scans, brain_mask, options.coregistration, stored, resampled)
    if atlas_registration is not None:
        aligned.registrations["atlas"] = atlas_registration
    return aligned, {"brain_mask_source": source, "brain_mask_warnings": warnings}


def normalise_scans(
    aligned: AlignedScans, options: CasePreprocessingOptions, timer: _StepTimer | None = None
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, float]]:
    """95th-percentile then radiometric normalisation inside brain & valid; arrays (float32) and scales
    (intensity per scan, radiometric per CE scan)."""
    timer = timer or _StepTimer()
    with timer.step("intensity"):
        by_percentile = {
            name: normalise_intensity(
                sitk.GetArrayFromImage(image), aligned.region(name), options.intensity_percentile
            )
            for name, image in aligned.images.items()
        }
    x_pc = by_percentile["pre_contrast"].image.astype(np.float32)
    normalised = {"pre_contrast": x_pc}
    radiometric_scales: dict[str, float] = {}

    def scaled(name: str) -> tuple[np.ndarray, float]:
        scan = by_percentile[name].image
        scale = estimate_radiometric_scale(scan, x_pc, aligned.region(name), options.radiometric).scale
        return (scan * scale).astype(np.float32), float(scale)

    with timer.step("radiometric"):
        for name, (array, scale) in per_scan(scaled, list(aligned.valid)).items():  # LD and SD side by side
            normalised[name], radiometric_scales[name] = array, scale
    intensity_scales = {name: float(result.scale) for name, result in by_percentile.items()}
    return normalised, intensity_scales, radiometric_scales


def _subtractions(
    normalised: dict[str, np.ndarray],
    aligned: AlignedScans,
    spacing: tuple[float, ...],
    options: NoiseOptions,
) -> dict[str, SubtractionResult]:
    """z~, sigma, local statistics and eq. 1 per CE scan, each inside brain & its valid mask; LD and SD
    are measured side by side, then eq. 1 scales both with sigma_LD."""
    x_pc = normalised["pre_contrast"]
    names = [name for name in ("low_dose", "standard_dose") if name in normalised]
    measured = per_scan(
        lambda name: measure_subtraction(normalised[name], x_pc, aligned.region(name), spacing, options),
        names,
    )
    sigma_ld = measured["low_dose"].noise_sigma
    return {name: apply_noise_normalisation(result, sigma_ld, options) for name, result in measured.items()}


def _scan_arrays(
    normalised: dict[str, np.ndarray],
    subtractions: dict[str, SubtractionResult],
    aligned: AlignedScans,
    name: str,
) -> dict[str, np.ndarray]:
    """x, z and s of one CE scan (float32), filled outside its valid mask (:func:`fill_outside_valid`)."""
    suffix = {"low_dose": "ld", "standard_dose": "sd"}[name]
    result = subtractions[name]
    arrays = fill_outside_valid(
        normalised[name],
        normalised["pre_contrast"],
        result.subtraction,
        result.local_statistics.std,
        aligned.valid[name],
        aligned.region(name),
    )
    return dict(zip((f"x_{suffix}", f"z_{suffix}", f"s_{suffix}"), arrays, strict=True))


def _target_arrays(
    normalised: dict[str, np.ndarray], subtractions: dict[str, SubtractionResult], aligned: AlignedScans
) -> dict[str, np.ndarray]:
    """SD-derived arrays: x_sd, z_sd, s_sd and eq. 2's p_sd and y_sd (float32, 0 outside SD's valid mask)."""
    arrays = _scan_arrays(normalised, subtractions, aligned, "standard_dose")
    target = contrast_target(arrays["z_sd"], subtractions["low_dose"].noise_sigma)
    valid = aligned.valid["standard_dose"]
    arrays["p_sd"] = np.where(valid, target.probability, 0.0).astype(np.float32)
    arrays["y_sd"] = np.where(valid, target.signal, 0.0).astype(np.float32)
    return arrays
