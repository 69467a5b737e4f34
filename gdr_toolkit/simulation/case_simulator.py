"""One simulated case: PC, LD and SD scans of the same phantom, with ground truth for later stages.

The steps, each in its module: the case's scalar draws (``case_parameters``), its noiseless object in the
atlas frame (``phantom_object``), the scans' grids and their acquisition (``scan_acquisition``), then
storage and the metadata record (``scanner_storage``, ``case_metadata``). Every step draws from its own
random stream, so a case depends only on (seed, case index).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.simulation import artifacts
from gdr_toolkit.simulation.acquisition_plan import SCANS, draw_acquisition_plan
from gdr_toolkit.simulation.anatomy import BrainMaps, brain_centre_mm, brain_maps, inverse_point
from gdr_toolkit.simulation.case_metadata import case_metadata, realism_record
from gdr_toolkit.simulation.case_parameters import as_coregistered, draw_parameters, with_sequence_kind
from gdr_toolkit.simulation.case_variation import draw_case_variation
from gdr_toolkit.simulation.enhancement import Lesion
from gdr_toolkit.simulation.phantom_object import build_phantom_object
from gdr_toolkit.simulation.scan_acquisition import (
    acquire_scans,
    image_on_grid,
    plan_scan_geometry,
    resample_array,
    skull_strip,
    true_brain_on,
)
from gdr_toolkit.simulation.scanner_storage import Int16Rescaling, int16_rescaling
from gdr_toolkit.simulation.settings import SimulationSettings

logger = logging.getLogger(__name__)

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


def _lesion_labels(
    maps: BrainMaps,
    labels: np.ndarray,
    lesions: tuple[Lesion, ...],
    grid: sitk.Image,
    deformation: sitk.Transform,
) -> np.ndarray:
    """Labels on the PC grid (nearest neighbour); a lesion lost to the grid keeps its centre voxel."""
    pulled = resample_array(labels, maps.grid, grid, deformation, sitk.sitkNearestNeighbor).astype(np.uint16)
    present = set(np.unique(pulled).tolist())
    for label, lesion in enumerate(lesions, start=1):
        if label not in present:
            centre = inverse_point(deformation, np.array(lesion.center_mm))
            index = grid.TransformPhysicalPointToIndex([float(v) for v in centre])
            pulled[index[::-1]] = label
    return pulled


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
    parameters = with_sequence_kind(parameters, plan)
    if variation.coregistered:
        parameters, plan = as_coregistered(parameters, plan)
    phantom = build_phantom_object(settings, maps, parameters, streams, variation.head_scale)
    geometry = plan_scan_geometry(settings, maps, phantom.deformation, parameters.motion, plan)
    acquisition = acquire_scans(
        maps,
        phantom,
        parameters,
        geometry.grids,
        streams,
        settings.bias_field_strength,
        variation.noise_correlation_voxels,
    )
    if variation.skull_stripped:
        acquisition = skull_strip(acquisition, maps, phantom, parameters, geometry.grids, variation)
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
        lesion_labels=image_on_grid(labels, pc_grid),
        brain_mask=image_on_grid(true_brain_on(pc_grid, geometry, maps, phantom.deformation), pc_grid),
        bias_field=image_on_grid(
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
