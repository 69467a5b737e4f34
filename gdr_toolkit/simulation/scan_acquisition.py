"""Scanning a simulated case: each scan's grid, its rendering from the object, bias, gain, noise, stripping.

Each scan is anti-aliased (a Gaussian that takes the working grid to the scan's in-plane voxel size;
thick slices are averaged over sub-slices, a box slice profile) and resampled through q -> D(R^-1(q))
onto its output grid, with R the scan's rigid motion (identity for PC) and D the case's smooth deformation
(object -> atlas). Each scan's grid follows its plan (spacing, direction, slab;
:mod:`gdr_toolkit.simulation.acquisition_plan`). Bias field, gain and Rician noise are applied on the
output grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.simulation import artifacts
from gdr_toolkit.simulation.acquisition_plan import SCANS, AcquisitionPlan
from gdr_toolkit.simulation.anatomy import BrainMaps, brain_centre_mm
from gdr_toolkit.simulation.case_parameters import CaseParameters
from gdr_toolkit.simulation.case_variation import CaseVariation
from gdr_toolkit.simulation.phantom_object import PhantomObject
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
from gdr_toolkit.simulation.settings import SimulationSettings
from gdr_toolkit.simulation.skull_stripping import strip_scans

WHITE_MATTER_SNR_THRESHOLD = 0.9


def image_on_grid(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    """``array`` (z, y, x) as an image with ``grid``'s geometry (size, spacing, origin, direction)."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


def resample_array(
    array: np.ndarray,
    source: sitk.Image,
    target: sitk.Image,
    transform: sitk.Transform,
    interpolator: int,
    smoothing_mm: list[float] | None = None,
) -> np.ndarray:
    """``array`` on ``source``'s grid resampled onto ``target`` through ``transform`` (target point ->
    source point; 0 outside), after a Gaussian of ``smoothing_mm`` std per axis (x, y, z) when given."""
    image = image_on_grid(array, source)
    if smoothing_mm is not None and min(smoothing_mm) > 0:
        image = sitk.SmoothingRecursiveGaussian(image, smoothing_mm)
    elif smoothing_mm is not None:  # some axes need no smoothing (e.g. sub-slices of thick slices)
        for axis, sigma_mm in enumerate(smoothing_mm):
            if sigma_mm > 0:
                image = sitk.RecursiveGaussian(image, sigma_mm, direction=axis)
    return sitk.GetArrayFromImage(sitk.Resample(image, target, transform, interpolator, 0.0))


def scan_to_atlas(scan: str, deformation: sitk.Transform, parameters: CaseParameters) -> sitk.Transform:
    """q -> D(R^-1(q)): scan point to atlas point (R = identity for PC)."""
    if scan == "pre_contrast":
        return deformation
    return sitk.CompositeTransform([deformation, parameters.motion[scan].GetInverse()])


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


def render_scan(
    signal: np.ndarray, maps: BrainMaps, grid: sitk.Image, transform: sitk.Transform
) -> np.ndarray:
    """Anti-alias the object-grid signal for ``grid``'s voxel size and resample it through ``transform``;
    thick slices are the mean of sub-slices no thicker than the working grid (box slice profile)."""
    working_mm = float(min(maps.grid.GetSpacing()))
    axis = thick_axis(grid)
    if axis is None:
        return resample_array(
            signal, maps.grid, grid, transform, sitk.sitkLinear, anti_aliasing_sigma_mm(grid, working_mm)
        )
    fine, count = subslice_grid(grid, axis, working_mm)
    pulled = resample_array(
        signal, maps.grid, fine, transform, sitk.sitkLinear, anti_aliasing_sigma_mm(fine, working_mm)
    )
    return average_subslices(pulled, axis, count)


def plan_scan_geometry(
    settings: SimulationSettings,
    maps: BrainMaps,
    deformation: sitk.Transform,
    motion: dict[str, sitk.Euler3DTransform],
    plan: AcquisitionPlan,
) -> ScanGeometry:
    """Each scan's grid as planned (spacing, direction, slab cropped in its own frame after its motion)."""
    reference = output_grid(maps.grid, (settings.spacing_mm,) * 3, settings.direction)
    brain = (resample_array(maps.brain, maps.grid, reference, deformation, sitk.sitkLinear) > 0.5).astype(
        np.uint8
    )
    points = brain_points_mm(brain, reference)
    grids = {scan: output_grid(maps.grid, plan.spacing_mm[scan], plan.direction[scan]) for scan in SCANS}
    for scan, target in plan.fov_target.items():
        assert plan.cut_side is not None  # set whenever a target is
        grids[scan] = crop_to_brain_fraction(grids[scan], points, motion[scan], target, plan.cut_side)
    outside = {scan: fraction_outside(points, grids[scan], motion.get(scan)) for scan in SCANS}
    return ScanGeometry(grids, brain, reference, outside)


def acquire_scans(
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
        scan: render_scan(signal, maps, grids[scan], scan_to_atlas(scan, phantom.deformation, parameters))
        * artifacts.bias_field(grids[scan], bias_coefficients, centre)
        for scan, signal in zip(SCANS, phantom.signals, strict=True)
    }
    pc_grid = grids["pre_contrast"]
    white_matter = (
        resample_array(maps.white_matter, maps.grid, pc_grid, phantom.deformation, sitk.sitkLinear)
        >= WHITE_MATTER_SNR_THRESHOLD
    )
    sigma_0 = float(clean["pre_contrast"][white_matter].mean()) / parameters.snr
    images, noiseless = {}, {}
    correlation_zyx = None if correlation_voxels is None else correlation_voxels[::-1]
    for scan in SCANS:
        gain = np.float32(parameters.gains[scan])
        images[scan] = image_on_grid(
            gain * artifacts.add_rician_noise(clean[scan], sigma_0, streams[5], correlation_zyx), grids[scan]
        )
        noiseless[scan] = image_on_grid((gain * clean[scan]).astype(np.float32), grids[scan])
    noise_sigma = {scan: sigma_0 * parameters.gains[scan] for scan in SCANS}
    return Acquisition(images, noiseless, noise_sigma, bias_coefficients)


def skull_strip(
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
        transform = scan_to_atlas(scan, phantom.deformation, parameters)
        masks[scan] = resample_array(maps.brain, maps.grid, grids[scan], transform, sitk.sitkLinear) > 0.5
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


def true_brain_on(
    grid: sitk.Image, geometry: ScanGeometry, maps: BrainMaps, deformation: sitk.Transform
) -> np.ndarray:
    """The true brain mask (uint8) on ``grid`` (the reference one when the grids agree)."""
    if _same_grid(grid, geometry.reference):
        return geometry.brain_reference
    return (resample_array(maps.brain, maps.grid, grid, deformation, sitk.sitkLinear) > 0.5).astype(np.uint8)
