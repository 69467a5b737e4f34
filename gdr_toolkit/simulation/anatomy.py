"""Anatomy of the phantom: tissue fractions in the atlas (object) frame and a random smooth deformation.

The brain comes from one of the anatomy sources (:mod:`anatomy_sources`: the MNI152 tissue maps or
the Colin27 brain; grey matter, white matter; CSF = brain mask - GM - WM, clipped to [0, 1]). Around the brain a synthetic head is built in layers by the distance d (mm) from
the brain mask: dura (0 to 1 mm), skull (dense tables with fatty marrow between them, 4 to 8 mm),
subcutaneous fat (3 to 7 mm) and skin/muscle (about 2 mm). Layer thicknesses vary smoothly over the
head so that each case has its own bumpy skull and scalp. Fractions are partial-volume weights: in
every voxel they are >= 0 and sum to <= 1 (the rest is air).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from gdr_toolkit.simulation.anatomy_sources import load_anatomy
from gdr_toolkit.simulation.random_fields import coarse_grid, smooth_random_field

DURA_THICKNESS_MM = 1.0
SKULL_THICKNESS_MM = (4.0, 8.0)
FAT_THICKNESS_MM = (3.0, 7.0)
SKIN_THICKNESS_MM = 2.0
LAYER_CORRELATION_MM = 40.0
DEFORMATION_GRID_SPACING_MM = 8.0


@dataclass(frozen=True)
class BrainMaps:
    """The atlas brain on a working grid (arrays (z, y, x), float32; identity direction).

    Attributes:
        grid: float32 image of zeros that carries the working grid's geometry.
        grey_matter, white_matter, csf: tissue fractions in [0, 1].
        brain: brain-mask fraction in [0, 1] (linearly interpolated mask).
        distance_outside_mm: distance from the brain mask (brain > 0.5) in mm, 0 inside.
        depth_inside_mm: distance to the outside of the brain mask in mm, 0 outside.
        centre_mm: centre of mass of the brain fraction, physical mm (LPS).
    """

    grid: sitk.Image
    grey_matter: np.ndarray
    white_matter: np.ndarray
    csf: np.ndarray
    brain: np.ndarray
    distance_outside_mm: np.ndarray
    depth_inside_mm: np.ndarray
    centre_mm: tuple[float, float, float]


def _resample_to(image: sitk.Image, grid: sitk.Image) -> np.ndarray:
    source = sitk.Cast(image, sitk.sitkFloat32)
    grid_spacing = min(grid.GetSpacing())
    if grid_spacing > min(image.GetSpacing()) * 1.01:  # anti-alias before downsampling
        sigma = 0.42 * np.sqrt(grid_spacing**2 - min(image.GetSpacing()) ** 2)
        source = sitk.SmoothingRecursiveGaussian(source, [float(sigma)] * 3)
    resampled = sitk.Resample(source, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return np.clip(sitk.GetArrayFromImage(resampled), 0.0, 1.0)


@lru_cache(maxsize=4)
def brain_maps(spacing_mm: float, anatomy: str = "mni152") -> BrainMaps:
    """The tissue maps of ``anatomy`` on an identity-direction grid of ``spacing_mm`` covering its box.

    Args:
        spacing_mm: working grid spacing in mm.
        anatomy: one of :data:`anatomy_sources.ANATOMIES` ("mni152": the template's own box).

    Cached per process (the distance transforms take about a second at 1 mm).
    """
    source = load_anatomy(anatomy)
    grid = coarse_grid(source.extent, spacing_mm)
    grey = _resample_to(source.grey_matter, grid)
    white = _resample_to(source.white_matter, grid)
    brain = _resample_to(source.brain_mask, grid)
    csf = np.clip(brain - grey - white, 0.0, 1.0)
    inside = brain > 0.5
    sampling = [spacing_mm] * 3
    centre_index = [float(v) for v in ndimage.center_of_mass(brain)[::-1]]
    return BrainMaps(
        grid=grid,
        grey_matter=grey,
        white_matter=white,
        csf=csf,
        brain=brain,
        distance_outside_mm=ndimage.distance_transform_edt(~inside, sampling=sampling).astype(np.float32),
        depth_inside_mm=ndimage.distance_transform_edt(inside, sampling=sampling).astype(np.float32),
        centre_mm=tuple(grid.TransformContinuousIndexToPhysicalPoint(centre_index)),
    )


def _between(
    distance_mm: np.ndarray, inner_mm: np.ndarray | float, outer_mm: np.ndarray | float, width_mm: float
):
    """Partial-volume fraction of a layer inner < d < outer, with ramps of ``width_mm``."""
    inner = np.clip((distance_mm - inner_mm) / width_mm + 0.5, 0.0, 1.0)
    outer = np.clip((distance_mm - outer_mm) / width_mm + 0.5, 0.0, 1.0)
    return (inner - outer).astype(np.float32)


def _thickness(field: np.ndarray, limits_mm: tuple[float, float]) -> np.ndarray:
    low, high = limits_mm
    return low + (high - low) * (0.5 + 0.5 * np.tanh(field))


def head_fractions(maps: BrainMaps, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Tissue fractions of brain and synthetic head on ``maps.grid``.

    Args:
        maps: the atlas on the working grid.
        rng: random generator for the layer thicknesses (consumed).

    Returns:
        Fractions (float32, shape of the grid) keyed by tissue name (see ``tissue_properties.TISSUES``):
        white_matter, grey_matter, csf, dura, bone, marrow, fat, muscle.
    """
    distance = maps.distance_outside_mm
    shell = distance > 0
    width = float(min(maps.grid.GetSpacing()))
    skull = _thickness(smooth_random_field(maps.grid, LAYER_CORRELATION_MM, rng)[shell], SKULL_THICKNESS_MM)
    fat = _thickness(smooth_random_field(maps.grid, LAYER_CORRELATION_MM, rng)[shell], FAT_THICKNESS_MM)
    marrow_share = 0.3 + 0.15 * np.tanh(smooth_random_field(maps.grid, LAYER_CORRELATION_MM, rng)[shell])
    d = distance[shell]
    skull_inner = DURA_THICKNESS_MM
    skull_outer = skull_inner + skull
    marrow_inner = skull_inner + 0.5 * (1.0 - marrow_share) * skull
    marrow_outer = marrow_inner + marrow_share * skull
    fat_outer = skull_outer + fat
    layers = {
        "dura": _between(d, 0.0, skull_inner, width),
        "bone": _between(d, skull_inner, skull_outer, width) - _between(d, marrow_inner, marrow_outer, width),
        "marrow": _between(d, marrow_inner, marrow_outer, width),
        "fat": _between(d, skull_outer, fat_outer, width),
        "muscle": _between(d, fat_outer, fat_outer + SKIN_THICKNESS_MM, width),
    }
    outside = 1.0 - maps.brain[shell]  # partial-volume room left by the brain at its border
    fractions = {"white_matter": maps.white_matter, "grey_matter": maps.grey_matter, "csf": maps.csf}
    for name, values in layers.items():
        full = np.zeros(distance.shape, dtype=np.float32)
        full[shell] = np.clip(values, 0.0, 1.0) * outside
        fractions[name] = full
    return fractions


def random_deformation(
    maps: BrainMaps,
    rng: np.random.Generator,
    displacement_mm: float,
    max_scaling: float,
    head_scale: float = 1.0,
) -> sitk.DisplacementFieldTransform:
    """A random smooth deformation D mapping object (pre-contrast) points to atlas points: D(p) = p + u(p).

    u(p) = (s / k - 1) * (p - c) + smooth random displacement, with per-axis scaling s uniform in
    1 +- ``max_scaling`` about the brain centre c, the global head scale k (the object's head is k times
    the atlas head: its volume k^3 times) and a smooth field of standard deviation ``displacement_mm`` per
    axis (correlation length 40 mm). Stored on an 8 mm grid with linear interpolation (which represents
    the affine part exactly).

    Args:
        maps: the atlas on the working grid (domain and brain centre).
        rng: random generator (consumed; the same draws whatever ``head_scale``).
        displacement_mm: standard deviation of the random displacement per axis in mm.
        max_scaling: maximum relative scaling per axis.
        head_scale: global linear size of the object relative to the atlas (> 0; 1 leaves it).

    Returns:
        The transform (usable in ``sitk.Resample`` to pull atlas-frame images into the object frame).
    """
    if not head_scale > 0:
        raise ValueError(f"head_scale must be > 0, got {head_scale}.")
    field_grid = coarse_grid(maps.grid, DEFORMATION_GRID_SPACING_MM, margin_mm=40.0)
    centre = brain_centre_mm(maps)
    scaling = 1.0 + rng.uniform(-max_scaling, max_scaling, size=3)
    size = field_grid.GetSize()
    axes = [field_grid.GetOrigin()[k] + field_grid.GetSpacing()[k] * np.arange(size[k]) for k in range(3)]
    components = []
    for axis in range(3):
        coordinate = axes[axis].reshape([-1 if k == 2 - axis else 1 for k in range(3)])
        random_part = displacement_mm * smooth_random_field(field_grid, LAYER_CORRELATION_MM, rng)
        components.append(random_part + (scaling[axis] / head_scale - 1.0) * (coordinate - centre[axis]))
    field = sitk.GetImageFromArray(np.stack(components, axis=-1).astype(np.float64), isVector=True)
    field.CopyInformation(field_grid)
    return sitk.DisplacementFieldTransform(field)


def brain_centre_mm(maps: BrainMaps) -> np.ndarray:
    """Centre of mass of the brain fraction, physical mm (LPS)."""
    return np.array(maps.centre_mm)


def inverse_point(transform: sitk.Transform, target_mm: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Solve D(p) = target for p by fixed-point iteration (D close to the identity), mm."""
    point = np.asarray(target_mm, dtype=float)
    for _ in range(iterations):
        point = point - (np.array(transform.TransformPoint([float(v) for v in point])) - target_mm)
    return point
