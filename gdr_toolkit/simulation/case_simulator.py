"""One simulated case: PC, LD and SD scans of the same phantom, with ground truth for later stages.

The noiseless object is computed once per case in the atlas frame on the working grid (three signal
images, one per dose). Each scan is then anti-aliased (a Gaussian that takes the working grid to the
scan's in-plane voxel size; thick slices are averaged over sub-slices, a box slice profile) and resampled
through q -> D(R^-1(q)) onto its output grid, with R the scan's rigid motion (identity for PC) and D the
case's smooth deformation (object -> atlas). Each scan's grid follows its plan (spacing, direction, slab;
:mod:`gdr_toolkit.simulation.acquisition_plan`). Bias field, gain and Rician noise are applied on the
output grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.agents import find_agent
from gdr_toolkit.simulation import artifacts
from gdr_toolkit.simulation.acquisition_plan import SCANS, AcquisitionPlan, draw_acquisition_plan
from gdr_toolkit.simulation.anatomy import (
    BrainMaps,
    brain_centre_mm,
    brain_maps,
    head_fractions,
    inverse_point,
    random_deformation,
)
from gdr_toolkit.simulation.case_metadata import case_metadata, realism_record
from gdr_toolkit.simulation.case_variation import CaseVariation, draw_case_variation, draw_snr
from gdr_toolkit.simulation.enhancement import EnhancementMaps, Lesion, dose_scale, simulate_enhancement
from gdr_toolkit.simulation.object_model import noiseless_signals, tissue_signal
from gdr_toolkit.simulation.scan_geometry import (
    anti_aliasing_sigma_mm,
    average_subslices,
    brain_points_mm,
    crop_to_brain_fraction,
    fraction_outside,
    output_grid,
    subslice_grid,
    thick_axis,
)
from gdr_toolkit.simulation.scanner_storage import Int16Rescaling, int16_rescaling
from gdr_toolkit.simulation.settings import SimulationSettings
from gdr_toolkit.simulation.signal_equation import SequencePreset, presets_for_field
from gdr_toolkit.simulation.skull_stripping import strip_scans

logger = logging.getLogger(__name__)

WHITE_MATTER_SNR_THRESHOLD = 0.9
NUM_STREAMS = 8  # parameters, anatomy, enhancement, deformation, bias, noise, acquisition plan, variation


@dataclass(frozen=True)
class SimulatedCase:
    """A simulated case and its ground truth.

    Attributes:
        pre_contrast, low_dose, standard_dose: the scans, float32 images (physical geometry of each; the
            values before any int16 storage).
        lesion_labels: uint16 on the PC grid, lesion k = k (1-based, as ``metadata["simulation"]["lesions"]``).
        brain_mask: uint8 (0/1) true brain mask on the PC grid.
        bias_field: float32 multiplicative bias field on the PC grid (the same physical field in all scans).
        noise_sigma: per scan, standard deviation of the Gaussian noise per channel in image units.
        gains: per scan receiver gain (dimensionless).
        motion: rigid motion of "low_dose" and "standard_dose" (PC physical point -> scan physical point).
        metadata: the raw-format metadata dict (``metadataTr/CASE.json``).
        noiseless: per scan the noiseless image (bias and gain applied, no noise), or None.
        brain_fraction_outside: per scan, fraction of the true brain outside that scan's field of view.
        storage: per scan the int16 rescaling the writer uses, or None (float32 files).
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
    brain_fraction_outside: dict[str, float] = field(default_factory=dict)
    storage: dict[str, Int16Rescaling] | None = None


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
    snr = draw_snr(settings, rng)
    gains = {scan: float(rng.uniform(*settings.gain_range)) for scan in SCANS}
    centre = brain_centre_mm(maps)
    motion = {
        scan: artifacts.draw_rigid_motion(rng, settings.max_rotation_deg, settings.max_translation_mm, centre)
        for scan in SCANS[1:]
    }
    anisotropic = rng.random() < settings.anisotropic_fraction
    slice_factor = float(rng.uniform(2.0, 3.0)) if anisotropic else 1.0
    return CaseParameters(field_strength_t, agent, dose_fraction, preset, snr, gains, motion, slice_factor)


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
    if smoothing_mm is not None and min(smoothing_mm) > 0:
        image = sitk.SmoothingRecursiveGaussian(image, smoothing_mm)
    elif smoothing_mm is not None:  # some axes need no smoothing (e.g. sub-slices of thick slices)
        for axis, sigma_mm in enumerate(smoothing_mm):
            if sigma_mm > 0:
                image = sitk.RecursiveGaussian(image, sigma_mm, direction=axis)
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


def _object_to_atlas(scan: str, deformation: sitk.Transform, parameters: CaseParameters) -> sitk.Transform:
    """q -> D(R^-1(q)): scan point to atlas point (R = identity for PC)."""
    if scan == "pre_contrast":
        return deformation
    return sitk.CompositeTransform([deformation, parameters.motion[scan].GetInverse()])


def _with_sequence_kind(parameters: CaseParameters, plan: AcquisitionPlan) -> CaseParameters:
    """The case parameters with an MPRAGE preset of the same field when the plan asks for one."""
    if not plan.mprage:
        return parameters
    presets = presets_for_field(parameters.field_strength_t, "mprage")
    return replace(parameters, preset=presets[int(plan.preset_draw * len(presets))])


@dataclass(frozen=True)
class PhantomObject:
    """The noiseless object of a case in the atlas frame (working grid)."""

    signals: list[np.ndarray]  # PC, LD, SD signal, float32 (z, y, x), image intensity units at gain 1
    enhancement: EnhancementMaps
    deformation: sitk.Transform  # object (PC physical point) -> atlas
    relaxivity_l_per_mmol_s: float
    standard_dose_mmol_per_kg: float


@dataclass(frozen=True)
class ScanGeometry:
    """Each scan's grid, the true brain in the PC frame and the fraction of it outside each scan."""

    grids: dict[str, sitk.Image]
    brain_reference: np.ndarray  # uint8 (z, y, x) true brain on ``reference``
    reference: sitk.Image  # isotropic grid at spacing_mm with settings.direction
    brain_fraction_outside: dict[str, float]


@dataclass(frozen=True)
class Acquisition:
    """The acquired scans before storage."""

    images: dict[str, sitk.Image]
    noiseless: dict[str, sitk.Image]
    noise_sigma: dict[str, float]
    bias_coefficients: np.ndarray


def _render(signal: np.ndarray, maps: BrainMaps, grid: sitk.Image, transform: sitk.Transform) -> np.ndarray:
    """Anti-alias the object-grid signal for ``grid``'s voxel size and resample it through ``transform``;
    thick slices are the mean of sub-slices no thicker than the working grid (box slice profile)."""
    working_mm = float(min(maps.grid.GetSpacing()))
    axis = thick_axis(grid)
    if axis is None:
        return _pull(
            signal, maps.grid, grid, transform, sitk.sitkLinear, anti_aliasing_sigma_mm(grid, working_mm)
        )
    fine, count = subslice_grid(grid, axis, working_mm)
    pulled = _pull(
        signal, maps.grid, fine, transform, sitk.sitkLinear, anti_aliasing_sigma_mm(fine, working_mm)
    )
    return average_subslices(pulled, axis, count)


def _phantom_object(
    settings: SimulationSettings,
    maps: BrainMaps,
    parameters: CaseParameters,
    streams: list[np.random.Generator],
    head_scale: float = 1.0,
) -> PhantomObject:
    """Anatomy, enhancement, the three noiseless signals and the deformation (streams 1-3)."""
    native = head_fractions(maps, streams[1])
    enhancement = simulate_enhancement(maps, native["dura"], streams[2], settings)
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
    intensity = np.float32(settings.reference_intensity / white_matter_signal)
    deformation = random_deformation(
        maps, streams[3], settings.deformation_mm, settings.max_scaling, head_scale
    )
    return PhantomObject(
        [signal * intensity for signal in signals],
        enhancement,
        deformation,
        relaxivity,
        agent.standard_dose_mmol_per_kg,
    )


def _scan_geometry(
    settings: SimulationSettings,
    maps: BrainMaps,
    deformation: sitk.Transform,
    motion: dict[str, sitk.Euler3DTransform],
    plan: AcquisitionPlan,
) -> ScanGeometry:
    """Each scan's grid as planned (spacing, direction, slab cropped in its own frame after its motion)."""
    reference = output_grid(maps.grid, (settings.spacing_mm,) * 3, settings.direction)
    brain = (_pull(maps.brain, maps.grid, reference, deformation, sitk.sitkLinear) > 0.5).astype(np.uint8)
    points = brain_points_mm(brain, reference)
    grids = {scan: output_grid(maps.grid, plan.spacing_mm[scan], plan.direction[scan]) for scan in SCANS}
    for scan, target in plan.fov_target.items():
        assert plan.cut_side is not None  # set whenever a target is
        grids[scan] = crop_to_brain_fraction(grids[scan], points, motion[scan], target, plan.cut_side)
    outside = {scan: fraction_outside(points, grids[scan], motion.get(scan)) for scan in SCANS}
    return ScanGeometry(grids, brain, reference, outside)


def _acquire(
    maps: BrainMaps,
    phantom: PhantomObject,
    parameters: CaseParameters,
    grids: dict[str, sitk.Image],
    streams: list[np.random.Generator],
    bias_field_strength: float,
    correlation_voxels: tuple[float, float, float] | None = None,
) -> Acquisition:
    """Render each scan, apply bias field (stream 4), then gain and Rician noise (stream 5; correlated
    with a Gaussian of ``correlation_voxels`` std per grid axis x, y, z when given)."""
    centre = brain_centre_mm(maps)
    bias_coefficients = artifacts.draw_bias_coefficients(streams[4], bias_field_strength)
    clean = {
        scan: _render(signal, maps, grids[scan], _object_to_atlas(scan, phantom.deformation, parameters))
        * artifacts.bias_field(grids[scan], bias_coefficients, centre)
        for scan, signal in zip(SCANS, phantom.signals, strict=True)
    }
    pc_grid = grids["pre_contrast"]
    white_matter = (
        _pull(maps.white_matter, maps.grid, pc_grid, phantom.deformation, sitk.sitkLinear)
        >= WHITE_MATTER_SNR_THRESHOLD
    )
    sigma_0 = float(clean["pre_contrast"][white_matter].mean()) / parameters.snr
    images, noiseless = {}, {}
    correlation_zyx = None if correlation_voxels is None else correlation_voxels[::-1]
    for scan in SCANS:
        gain = np.float32(parameters.gains[scan])
        images[scan] = _image(
            gain * artifacts.add_rician_noise(clean[scan], sigma_0, streams[5], correlation_zyx), grids[scan]
        )
        noiseless[scan] = _image((gain * clean[scan]).astype(np.float32), grids[scan])
    noise_sigma = {scan: sigma_0 * parameters.gains[scan] for scan in SCANS}
    return Acquisition(images, noiseless, noise_sigma, bias_coefficients)


def _coregistered(
    parameters: CaseParameters, plan: AcquisitionPlan
) -> tuple[CaseParameters, AcquisitionPlan]:
    """The case as an archive delivers co-registered scans: LD and SD on PC's grid, no motion."""
    still = {}
    for scan, transform in parameters.motion.items():
        still[scan] = sitk.Euler3DTransform()
        still[scan].SetCenter(transform.GetCenter())
    return replace(parameters, motion=still, slice_factor=1.0), plan.on_pre_contrast_grid()


def _skull_strip(
    acquisition: Acquisition,
    maps: BrainMaps,
    phantom: PhantomObject,
    parameters: CaseParameters,
    grids: dict[str, sitk.Image],
    variation: CaseVariation,
) -> Acquisition:
    """Every scan (and its noiseless twin) zeroed outside its own true brain mask, dilated (BraTS-like)."""
    masks = {}
    for scan in SCANS:
        transform = _object_to_atlas(scan, phantom.deformation, parameters)
        masks[scan] = _pull(maps.brain, maps.grid, grids[scan], transform, sitk.sitkLinear) > 0.5
    return replace(
        acquisition,
        images=strip_scans(acquisition.images, masks, variation.skull_strip_dilation_mm),
        noiseless=strip_scans(acquisition.noiseless, masks, variation.skull_strip_dilation_mm),
    )


def _same_grid(first: sitk.Image, second: sitk.Image) -> bool:
    return (first.GetSize(), first.GetSpacing(), first.GetOrigin(), first.GetDirection()) == (
        second.GetSize(),
        second.GetSpacing(),
        second.GetOrigin(),
        second.GetDirection(),
    )


def _brain_on(
    grid: sitk.Image, geometry: ScanGeometry, maps: BrainMaps, deformation: sitk.Transform
) -> np.ndarray:
    """The true brain mask (uint8) on ``grid`` (the reference one when the grids agree)."""
    if _same_grid(grid, geometry.reference):
        return geometry.brain_reference
    return (_pull(maps.brain, maps.grid, grid, deformation, sitk.sitkLinear) > 0.5).astype(np.uint8)


def _case_streams(seed: int, case_index: int) -> list[np.random.Generator]:
    """The case's independent random streams (children of ``SeedSequence(seed, spawn_key=(case_index,))``)."""
    children = np.random.SeedSequence(seed, spawn_key=(case_index,)).spawn(NUM_STREAMS)
    return [np.random.default_rng(child) for child in children]


def _storage(settings: SimulationSettings, images: dict[str, sitk.Image]) -> dict[str, Int16Rescaling] | None:
    """Per scan the int16 rescaling a scanner would choose, or None for float32 storage."""
    if settings.storage_dtype != "int16":
        return None
    return {scan: int16_rescaling(sitk.GetArrayViewFromImage(images[scan])) for scan in SCANS}


def simulate_case(settings: SimulationSettings, seed: int, case_index: int = 0) -> SimulatedCase:
    """Simulate case ``case_index`` of the series started by ``seed`` (identical for any series length).

    Args:
        settings: what to draw and on which grid.
        seed: series seed (>= 0).
        case_index: index of the case in the series (>= 0); its random streams are the children of
            ``SeedSequence(seed, spawn_key=(case_index,))``.

    Returns:
        The case (see :class:`SimulatedCase`).
    """
    if seed < 0 or case_index < 0:
        raise ValueError(f"seed and case_index must be >= 0, got seed={seed}, case_index={case_index}.")
    streams = _case_streams(seed, case_index)
    variation = draw_case_variation(settings, streams[7])
    maps = brain_maps(settings.object_spacing_mm, variation.anatomy)
    parameters = draw_parameters(settings, maps, streams[0])
    plan = draw_acquisition_plan(settings, streams[6], parameters.slice_factor)
    parameters = _with_sequence_kind(parameters, plan)
    if variation.coregistered:
        parameters, plan = _coregistered(parameters, plan)
    phantom = _phantom_object(settings, maps, parameters, streams, variation.head_scale)
    geometry = _scan_geometry(settings, maps, phantom.deformation, parameters.motion, plan)
    acquisition = _acquire(
        maps,
        phantom,
        parameters,
        geometry.grids,
        streams,
        settings.bias_field_strength,
        variation.noise_correlation_voxels,
    )
    if variation.skull_stripped:
        acquisition = _skull_strip(acquisition, maps, phantom, parameters, geometry.grids, variation)
    pc_grid = geometry.grids["pre_contrast"]
    labels = _lesion_labels(
        maps, phantom.enhancement.lesion_labels, phantom.enhancement.lesions, pc_grid, phantom.deformation
    )
    storage = _storage(settings, acquisition.images)
    metadata = case_metadata(
        settings, seed, case_index, parameters, phantom, acquisition.noise_sigma, geometry.grids
    )
    metadata["simulation"].update(realism_record(plan, geometry.brain_fraction_outside, storage))
    metadata["simulation"]["variation"] = variation.record()
    logger.debug("Simulated case %d of seed %d: %s", case_index, seed, metadata["simulation"]["scan"])
    return SimulatedCase(
        pre_contrast=acquisition.images["pre_contrast"],
        low_dose=acquisition.images["low_dose"],
        standard_dose=acquisition.images["standard_dose"],
        lesion_labels=_image(labels, pc_grid),
        brain_mask=_image(_brain_on(pc_grid, geometry, maps, phantom.deformation), pc_grid),
        bias_field=_image(
            artifacts.bias_field(pc_grid, acquisition.bias_coefficients, brain_centre_mm(maps)), pc_grid
        ),
        noise_sigma=acquisition.noise_sigma,
        gains=dict(parameters.gains),
        motion=dict(parameters.motion),
        metadata=metadata,
        noiseless=acquisition.noiseless if settings.keep_noiseless else None,
        brain_fraction_outside=dict(geometry.brain_fraction_outside),
        storage=storage,
    )
