"""The per-case preprocessing of method.md sections 1-2: one function from raw images to arrays.

Training (PC, LD, SD) and inference (PC, LD) run this same code path. Nothing is written to disk here;
the preprocessor stores the result and the predictor uses it in memory.

Steps, in order (keys of :attr:`CaseProperties.step_seconds`):
    brain_mask      affine MNI152 atlas -> PC, atlas brain mask warped onto PC's grid
    coregistration  rigid LD -> PC and SD -> PC, resampled onto PC's grid
    intensity       each scan divided by its 95th percentile inside the brain
    radiometric     one robust scale per CE scan so that a * x_CE matches x_PC in non-enhancing brain
    noise           z~ = x_CE - x_PC, sigma, local mean/std, eq. 1 (optional)
    target          eq. 2: p_SD and y_SD = p_SD * z_SD, and the per-case gamma statistic (SD only)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import check_finite
from gdr_toolkit.dataset.metadata import CaseMetadata
from gdr_toolkit.preprocessing.brain_mask import BrainMaskOptions, atlas_brain_mask
from gdr_toolkit.preprocessing.contrast_target import contrast_target, gamma_statistic
from gdr_toolkit.preprocessing.coregistration import CoregistrationOptions
from gdr_toolkit.preprocessing.intensity import normalise_intensity
from gdr_toolkit.preprocessing.noise import NoiseOptions, SubtractionResult, process_subtraction
from gdr_toolkit.preprocessing.radiometric import RadiometricOptions, estimate_radiometric_scale
from gdr_toolkit.preprocessing.registration import RegistrationResult
from gdr_toolkit.preprocessing.registration_cache import coregister_or_reuse

logger = logging.getLogger(__name__)

INPUT_ARRAYS = ("z_ld", "x_ld", "s_ld")
TARGET_ARRAYS = ("y_sd", "p_sd")


@dataclass(frozen=True)
class CasePreprocessingOptions:
    """Options of every step (defaults: method.md; see documentation/preprocessing_numerics.md).

    Attributes:
        brain_mask: atlas registration settings.
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
        brain_volume_ml: atlas brain mask volume.
        condition: metadata condition values (dose_fraction, field_strength_t, relaxivity) or empty.
        transforms: elastix transform parameter maps per registration (atlas, low_dose[, standard_dose]).
        step_seconds: wall time per step.
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
            with SD: ``p_sd`` (CE mask, eq. 2) and ``y_sd`` (target, eq. 2).
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
    """dose_fraction, field_strength_t and relaxivity (L/(mmol s)) of a case; empty without metadata."""
    if metadata is None:
        return {}
    return {
        "dose_fraction": metadata.dose_fraction,
        "field_strength_t": metadata.field_strength_t,
        "relaxivity": metadata.relaxivity_l_per_mmol_s,
    }


class _StepTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 4)


def _checked(image: sitk.Image, name: str) -> sitk.Image:
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{name}: expected a single-channel 3D image, got dimension {image.GetDimension()}.")
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
) -> PreprocessedCase:
    """Run method.md sections 1-2 on one case.

    Args:
        pre_contrast: PC scan (reference grid), any SimpleITK geometry.
        low_dose: LD scan, any grid; rigidly registered to PC.
        standard_dose: SD scan for training cases, or None at inference.
        metadata: scanner metadata; its condition values go into the properties.
        options: step options; defaults follow method.md.
        brain_mask: a brain mask on PC's grid to use instead of the atlas registration (e.g. a
            mask the user trusts more); None computes the atlas mask.
        registrations: stored registrations to reuse instead of running elastix (registration_cache):
            ``low_dose`` / ``standard_dose`` (PC -> scan) are only resampled with; ``atlas`` is recorded
            in the properties when ``brain_mask`` (the mask it gave) is passed too. None registers all.

    Returns:
        The arrays and properties (see :class:`PreprocessedCase`).

    Raises:
        ValueError: an input that is not 3D, holds NaN/inf, or an empty brain mask.
    """
    options = options or CasePreprocessingOptions()
    timer = _StepTimer()
    scans = {
        "pre_contrast": _checked(pre_contrast, "pre_contrast"),
        "low_dose": _checked(low_dose, "low_dose"),
    }
    if standard_dose is not None:
        scans["standard_dose"] = _checked(standard_dose, "standard_dose")
    on_pc_grid, mask, registrations = _align(scans, brain_mask, options, timer, registrations or {})
    normalised, intensity_scales, radiometric_scales = _normalise(on_pc_grid, mask, options, timer)
    spacing = scans["pre_contrast"].GetSpacing()
    x_pc = normalised["pre_contrast"]
    with timer.step("noise"):
        low = process_subtraction(normalised["low_dose"], x_pc, mask, spacing, None, options.noise)
        standard: SubtractionResult | None = None
        if "standard_dose" in normalised:
            standard = process_subtraction(
                normalised["standard_dose"], x_pc, mask, spacing, low.noise_sigma, options.noise
            )
    arrays = {
        "x_pc": x_pc,
        "x_ld": normalised["low_dose"],
        "z_ld": low.subtraction.astype(np.float32),
        "s_ld": low.local_statistics.std.astype(np.float32),
        "brain_mask": mask.astype(np.uint8),
    }
    gamma = None
    if standard is not None:
        with timer.step("target"):
            gamma = gamma_statistic(mask, low.local_statistics.std, standard.local_statistics.std)
            arrays.update(_target_arrays(normalised["standard_dose"], standard, low.noise_sigma))
    properties = CaseProperties(
        geometry=grid_geometry(scans["pre_contrast"]),
        intensity_scales=intensity_scales,
        radiometric_scales=radiometric_scales,
        noise_sigma_ld=float(low.noise_sigma),
        noise_sigma_sd=None if standard is None else float(standard.noise_sigma),
        gamma_statistic=gamma,
        noise_normalised=low.noise_normalised,
        brain_volume_ml=float(mask.sum() * np.prod(spacing) / 1000.0),
        condition=condition_values(metadata),
        transforms={name: _parameter_maps(result) for name, result in registrations.items()},
        step_seconds=timer.seconds,
    )
    logger.info("preprocessed case: sigma_LD %.4f, steps %s", properties.noise_sigma_ld, timer.seconds)
    return PreprocessedCase(arrays=arrays, properties=properties, registrations=registrations)


def _align(
    scans: dict[str, sitk.Image],
    brain_mask: sitk.Image | None,
    options: CasePreprocessingOptions,
    timer: _StepTimer,
    stored: Mapping[str, RegistrationResult],
) -> tuple[dict[str, sitk.Image], np.ndarray, dict[str, RegistrationResult]]:
    """Brain mask and rigid co-registration: every scan on PC's grid, the mask as (z, y, x) bool."""
    registrations: dict[str, RegistrationResult] = {}
    with timer.step("brain_mask"):
        if brain_mask is None:
            atlas = atlas_brain_mask(scans["pre_contrast"], options.brain_mask)
            brain_mask, registrations["atlas"] = atlas.mask, atlas.registration
        elif "atlas" in stored:
            registrations["atlas"] = stored["atlas"]
    mask = sitk.GetArrayFromImage(brain_mask).astype(bool)
    if not mask.any():
        raise ValueError("brain mask is empty: the atlas registration failed or the given mask has no voxel.")
    on_pc_grid = {"pre_contrast": scans["pre_contrast"]}
    with timer.step("coregistration"):
        for name in ("low_dose", "standard_dose"):
            if name in scans:
                result = coregister_or_reuse(
                    scans[name], scans["pre_contrast"], brain_mask, options.coregistration, stored.get(name)
                )
                on_pc_grid[name], registrations[name] = result.image, result.registration
    return on_pc_grid, mask, registrations


def _normalise(
    on_pc_grid: dict[str, sitk.Image], mask: np.ndarray, options: CasePreprocessingOptions, timer: _StepTimer
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, float]]:
    """95th-percentile then radiometric normalisation; arrays (float32) and both kinds of scales."""
    with timer.step("intensity"):
        by_percentile = {
            name: normalise_intensity(sitk.GetArrayFromImage(image), mask, options.intensity_percentile)
            for name, image in on_pc_grid.items()
        }
    x_pc = by_percentile["pre_contrast"].image.astype(np.float32)
    normalised = {"pre_contrast": x_pc}
    radiometric_scales: dict[str, float] = {}
    with timer.step("radiometric"):
        for name in [name for name in on_pc_grid if name != "pre_contrast"]:
            scan = by_percentile[name].image
            scale = estimate_radiometric_scale(scan, x_pc, mask, options.radiometric).scale
            normalised[name] = (scan * scale).astype(np.float32)
            radiometric_scales[name] = float(scale)
    intensity_scales = {name: float(result.scale) for name, result in by_percentile.items()}
    return normalised, intensity_scales, radiometric_scales


def _target_arrays(
    x_sd: np.ndarray, standard: SubtractionResult, noise_sigma_ld: float
) -> dict[str, np.ndarray]:
    """SD-derived arrays: x_sd, z_sd, s_sd and eq. 2's p_sd and y_sd (float32)."""
    target = contrast_target(standard.subtraction, noise_sigma_ld)
    return {
        "x_sd": x_sd,
        "z_sd": standard.subtraction.astype(np.float32),
        "s_sd": standard.local_statistics.std.astype(np.float32),
        "p_sd": target.probability.astype(np.float32),
        "y_sd": target.signal.astype(np.float32),
    }
