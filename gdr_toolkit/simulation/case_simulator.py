"""One simulated case: PC, LD and SD scans of the same phantom, with ground truth for later stages.

The noiseless object is computed once per case in the atlas frame on the working grid (three signal
images, one per dose). Each scan is then anti-aliased identically (a Gaussian that takes the working
grid to the scan's voxel size) and resampled through q -> D(R^-1(q)) onto its output grid, with R the
scan's rigid motion (identity for PC) and D the case's smooth deformation (object -> atlas). Bias field,
gain and Rician noise are applied on the output grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.agents import find_agent
from gdr_toolkit.simulation import artifacts
from gdr_toolkit.simulation.anatomy import (
    BrainMaps,
    brain_centre_mm,
    brain_maps,
    head_fractions,
    inverse_point,
    random_deformation,
)
from gdr_toolkit.simulation.enhancement import EnhancementMaps, Lesion, dose_scale, simulate_enhancement
from gdr_toolkit.simulation.object_model import noiseless_signals, tissue_signal
from gdr_toolkit.simulation.random_fields import physical_bounding_box
from gdr_toolkit.simulation.settings import SimulationSettings
from gdr_toolkit.simulation.signal_equation import SequencePreset, presets_for_field

logger = logging.getLogger(__name__)

SCANS = ("pre_contrast", "low_dose", "standard_dose")
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
WHITE_MATTER_SNR_THRESHOLD = 0.9


@dataclass(frozen=True)
class SimulatedCase:
    """A simulated case and its ground truth.

    Attributes:
        pre_contrast, low_dose, standard_dose: the scans, float32 images (physical geometry of each).
        lesion_labels: uint16 on the PC grid, lesion k = k (1-based, as ``metadata["simulation"]["lesions"]``).
        brain_mask: uint8 (0/1) true brain mask on the PC grid.
        bias_field: float32 multiplicative bias field on the PC grid (the same physical field in all scans).
        noise_sigma: per scan, standard deviation of the Gaussian noise per channel in image units.
        gains: per scan receiver gain (dimensionless).
        motion: rigid motion of "low_dose" and "standard_dose" (PC physical point -> scan physical point).
        metadata: the raw-format metadata dict (``metadataTr/CASE.json``).
        noiseless: per scan the noiseless image (bias and gain applied, no noise), or None.
    """

    pre_contrast: sitk.Image
    low_dose: sitk.Image
    standard_dose: sitk.Image
    lesion_labels: sitk.Image
    brain_mask: sitk.Image
    bias_field: sitk.Image
    noise_sigma: dict[str, float]
    gains: dict[str, float]
    motion: dict[str, sitk.Euler3DTransform]
    metadata: dict[str, Any]
    noiseless: dict[str, sitk.Image] | None


@dataclass(frozen=True)
class CaseParameters:
    """The scalar draws of one case (the random part; the rest is deterministic given these)."""

    field_strength_t: float
    agent: str
    dose_fraction: float
    preset: SequencePreset
    snr: float
    gains: dict[str, float]
    motion: dict[str, sitk.Euler3DTransform]
    slice_factor: float  # 1: isotropic LD/SD; > 1: LD/SD slice spacing = factor * spacing_mm


def draw_parameters(
    settings: SimulationSettings, maps: BrainMaps, rng: np.random.Generator
) -> CaseParameters:
    """Draw field, agent, dose, sequence, SNR, gains, motion and slice anisotropy."""
    field_strength_t = float(rng.choice(settings.field_strengths_t))
    agent = str(rng.choice(settings.agents))
    dose_fraction = float(rng.uniform(*settings.dose_fraction_range))
    presets = presets_for_field(field_strength_t)
    preset = presets[int(rng.integers(len(presets)))]
    snr = float(rng.uniform(*settings.snr_range))
    gains = {scan: float(rng.uniform(*settings.gain_range)) for scan in SCANS}
    centre = brain_centre_mm(maps)
    motion = {
        scan: artifacts.draw_rigid_motion(rng, settings.max_rotation_deg, settings.max_translation_mm, centre)
        for scan in SCANS[1:]
    }
    anisotropic = rng.random() < settings.anisotropic_fraction
    slice_factor = float(rng.uniform(2.0, 3.0)) if anisotropic else 1.0
    return CaseParameters(field_strength_t, agent, dose_fraction, preset, snr, gains, motion, slice_factor)


def output_grid(
    domain: sitk.Image, spacing_mm: tuple[float, float, float], direction: tuple[float, ...]
) -> sitk.Image:
    """A float32 grid with ``direction`` and ``spacing_mm`` covering ``domain``'s physical box."""
    matrix = np.asarray(direction, dtype=float).reshape(3, 3)
    low, high = physical_bounding_box(domain)
    corners = np.array(np.meshgrid(*zip(low, high, strict=True), indexing="ij")).reshape(3, -1)
    local = matrix.T @ corners  # coordinates along the grid axes
    size = [int(np.ceil((local[k].max() - local[k].min()) / spacing_mm[k])) + 1 for k in range(3)]
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing([float(v) for v in spacing_mm])
    grid.SetDirection([float(v) for v in matrix.ravel()])
    grid.SetOrigin([float(v) for v in matrix @ local.min(axis=1)])
    return grid


def anti_aliasing_sigma_mm(grid: sitk.Image, working_spacing_mm: float) -> list[float]:
    """Gaussian sigma per physical axis (mm) taking the working grid to ``grid``'s voxel size (FWHM =
    spacing), projected onto the atlas axes (exact for axis-aligned directions)."""
    matrix = np.array(grid.GetDirection()).reshape(3, 3)
    variance = np.maximum((np.array(grid.GetSpacing()) ** 2 - working_spacing_mm**2) * FWHM_TO_SIGMA**2, 0.0)
    return [float(np.sqrt((matrix[row] ** 2 * variance).sum())) for row in range(3)]


def _image(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


def _pull(
    array: np.ndarray,
    source: sitk.Image,
    target: sitk.Image,
    transform: sitk.Transform,
    interpolator: int,
    smoothing_mm: list[float] | None = None,
) -> np.ndarray:
    image = _image(array, source)
    if smoothing_mm is not None and max(smoothing_mm) > 0:
        image = sitk.SmoothingRecursiveGaussian(image, smoothing_mm)
    return sitk.GetArrayFromImage(sitk.Resample(image, target, transform, interpolator, 0.0))


def _lesion_labels(
    maps: BrainMaps,
    labels: np.ndarray,
    lesions: tuple[Lesion, ...],
    grid: sitk.Image,
    deformation: sitk.Transform,
) -> np.ndarray:
    """Labels on the PC grid (nearest neighbour); a lesion lost to the grid keeps its centre voxel."""
    pulled = _pull(labels, maps.grid, grid, deformation, sitk.sitkNearestNeighbor).astype(np.uint16)
    present = set(np.unique(pulled).tolist())
    for label, lesion in enumerate(lesions, start=1):
        if label not in present:
            centre = inverse_point(deformation, np.array(lesion.center_mm))
            index = grid.TransformPhysicalPointToIndex([float(v) for v in centre])
            pulled[index[::-1]] = label
    return pulled


def scan_grids(settings: SimulationSettings, maps: BrainMaps, slice_factor: float) -> dict[str, sitk.Image]:
    """Output grid per scan: PC isotropic; LD and SD the same, or with slices ``slice_factor`` thicker."""
    pc_grid = output_grid(maps.grid, (settings.spacing_mm,) * 3, settings.direction)
    contrast_grid = pc_grid
    if slice_factor > 1:
        contrast_spacing = (settings.spacing_mm, settings.spacing_mm, settings.spacing_mm * slice_factor)
        contrast_grid = output_grid(maps.grid, contrast_spacing, settings.direction)
    return {"pre_contrast": pc_grid, "low_dose": contrast_grid, "standard_dose": contrast_grid}


def _object_to_atlas(scan: str, deformation: sitk.Transform, parameters: CaseParameters) -> sitk.Transform:
    """q -> D(R^-1(q)): scan point to atlas point (R = identity for PC)."""
    if scan == "pre_contrast":
        return deformation
    return sitk.CompositeTransform([deformation, parameters.motion[scan].GetInverse()])


def _render(signal: np.ndarray, maps: BrainMaps, grid: sitk.Image, transform: sitk.Transform) -> np.ndarray:
    """Anti-alias the object-grid signal for ``grid``'s voxel size and resample it through ``transform``."""
    smoothing = anti_aliasing_sigma_mm(grid, float(min(maps.grid.GetSpacing())))
    return _pull(signal, maps.grid, grid, transform, sitk.sitkLinear, smoothing)


def simulate_case(settings: SimulationSettings, seed: int, case_index: int = 0) -> SimulatedCase:
    """Simulate case ``case_index`` of the series started by ``seed`` (identical for any series length).

    Args:
        settings: what to draw and on which grid.
        seed: series seed (>= 0).
        case_index: index of the case in the series (>= 0); its random stream is the child
            ``SeedSequence(seed, spawn_key=(case_index,))``.

    Returns:
        The case (see :class:`SimulatedCase`).
    """
    if seed < 0 or case_index < 0:
        raise ValueError(f"seed and case_index must be >= 0, got seed={seed}, case_index={case_index}.")
    streams = [
        np.random.default_rng(child)
        for child in np.random.SeedSequence(seed, spawn_key=(case_index,)).spawn(6)
    ]
    rng_parameters, rng_anatomy, rng_enhancement, rng_deformation, rng_bias, rng_noise = streams
    maps = brain_maps(settings.object_spacing_mm)
    parameters = draw_parameters(settings, maps, rng_parameters)
    native = head_fractions(maps, rng_anatomy)
    enhancement = simulate_enhancement(maps, native["dura"], rng_enhancement, settings)
    agent = find_agent(parameters.agent)
    relaxivity = agent.relaxivity_l_per_mmol_s(parameters.field_strength_t)
    scales = [
        0.0,
        dose_scale(parameters.dose_fraction, agent.standard_dose_mmol_per_kg),
        dose_scale(1.0, agent.standard_dose_mmol_per_kg),
    ]
    signals = noiseless_signals(
        native, enhancement, parameters.field_strength_t, parameters.preset, relaxivity, scales
    )
    white_matter_signal = float(tissue_signal("white_matter", parameters.field_strength_t, parameters.preset))
    intensity = settings.reference_intensity / white_matter_signal
    deformation = random_deformation(maps, rng_deformation, settings.deformation_mm, settings.max_scaling)

    grids = scan_grids(settings, maps, parameters.slice_factor)
    pc_grid = grids["pre_contrast"]
    centre = brain_centre_mm(maps)
    bias_coefficients = artifacts.draw_bias_coefficients(rng_bias, settings.bias_field_strength)
    clean = {
        scan: _render(
            signal * np.float32(intensity), maps, grids[scan], _object_to_atlas(scan, deformation, parameters)
        )
        * artifacts.bias_field(grids[scan], bias_coefficients, centre)
        for scan, signal in zip(SCANS, signals, strict=True)
    }
    white_matter = (
        _pull(maps.white_matter, maps.grid, pc_grid, deformation, sitk.sitkLinear)
        >= WHITE_MATTER_SNR_THRESHOLD
    )
    sigma_0 = float(clean["pre_contrast"][white_matter].mean()) / parameters.snr
    images, noiseless = {}, {}
    for scan in SCANS:
        gain = np.float32(parameters.gains[scan])
        images[scan] = _image(gain * artifacts.add_rician_noise(clean[scan], sigma_0, rng_noise), grids[scan])
        noiseless[scan] = _image((gain * clean[scan]).astype(np.float32), grids[scan])
    noise_sigma = {scan: sigma_0 * parameters.gains[scan] for scan in SCANS}

    brain = (_pull(maps.brain, maps.grid, pc_grid, deformation, sitk.sitkLinear) > 0.5).astype(np.uint8)
    labels = _lesion_labels(maps, enhancement.lesion_labels, enhancement.lesions, pc_grid, deformation)
    metadata = _metadata(
        settings,
        seed,
        case_index,
        parameters,
        relaxivity,
        agent.standard_dose_mmol_per_kg,
        noise_sigma,
        enhancement,
        deformation,
        grids,
    )
    logger.debug("Simulated case %d of seed %d: %s", case_index, seed, metadata["simulation"]["scan"])
    return SimulatedCase(
        pre_contrast=images["pre_contrast"],
        low_dose=images["low_dose"],
        standard_dose=images["standard_dose"],
        lesion_labels=_image(labels, pc_grid),
        brain_mask=_image(brain, pc_grid),
        bias_field=_image(artifacts.bias_field(pc_grid, bias_coefficients, centre), pc_grid),
        noise_sigma=noise_sigma,
        gains=dict(parameters.gains),
        motion=dict(parameters.motion),
        metadata=metadata,
        noiseless=noiseless if settings.keep_noiseless else None,
    )


def _metadata(
    settings: SimulationSettings,
    seed: int,
    case_index: int,
    parameters: CaseParameters,
    relaxivity: float,
    standard_dose: float,
    noise_sigma: dict[str, float],
    enhancement: EnhancementMaps,
    deformation: sitk.Transform,
    grids: dict[str, sitk.Image],
) -> dict[str, Any]:
    lesions = [
        {
            "label": label,
            "kind": lesion.kind,
            "diameter_mm": round(lesion.diameter_mm, 3),
            "center_mm": [round(float(v), 3) for v in inverse_point(deformation, np.array(lesion.center_mm))],
            "peak_concentration_mmol_per_l": round(lesion.peak_concentration_mmol_per_l, 4),
        }
        for label, lesion in enumerate(enhancement.lesions, start=1)
    ]
    return {
        "field_strength_t": parameters.field_strength_t,
        "contrast_agent": parameters.agent,
        "dose_fraction": parameters.dose_fraction,
        "repetition_time_ms": parameters.preset.repetition_time_ms,
        "echo_time_ms": parameters.preset.echo_time_ms,
        "flip_angle_deg": parameters.preset.flip_angle_deg,
        "scanner": "simulated",
        "simulation": {
            "generator": "gdr_toolkit.simulation",
            "seed": seed,
            "case_index": case_index,
            "sequence_preset": parameters.preset.name,
            "relaxivity_l_per_mmol_s": relaxivity,
            "standard_dose_mmol_per_kg": standard_dose,
            "snr": parameters.snr,
            "snr_definition": "mean noiseless pre-contrast signal in white matter (fraction >= 0.9) / noise sigma",
            "noise_sigma": noise_sigma,
            "gain": dict(parameters.gains),
            "motion": {scan: artifacts.rigid_motion_record(parameters.motion[scan]) for scan in SCANS[1:]},
            "scan": {
                scan: {"spacing_mm": list(grids[scan].GetSpacing()), "size": list(grids[scan].GetSize())}
                for scan in SCANS
            },
            "concentration_mmol_per_l_at_standard_dose": {
                name: (value if isinstance(value, float) else "per lesion")
                for name, value in enhancement.concentrations.items()
            },
            "lesions": lesions,
            "settings": settings.to_json_dict(),
        },
    }
