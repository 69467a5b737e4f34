"""Where each scan of a case lies: grids, thick slices, oblique planning and the field of view (slab).

Conventions (see documentation/simulation.md):
- A scan's grid is a box in that scan's scanner frame. The head moves between scans (the rigid motion R
  maps a pre-contrast point p to the point R(p) where the same tissue lies in the other scan), so a slab
  planned too small cuts the brain in that scan's frame: a brain point p lies inside scan X's field of
  view when R_X(p) lies inside X's voxel box (index -0.5 .. size - 0.5 along every axis).
- Thick slices are acquired with a box slice profile: the grid is rendered on sub-slices no thicker than
  the object grid and the sub-slices of each slice are averaged (no point sampling).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.simulation.random_fields import physical_bounding_box

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
# physical axis (LPS: x left, y posterior, z superior) and direction of each side of the head
SIDE_AXES = {
    "superior": (2, 1.0),
    "inferior": (2, -1.0),
    "posterior": (1, 1.0),
    "anterior": (1, -1.0),
    "left": (0, 1.0),
    "right": (0, -1.0),
}


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
    spacing), projected onto the atlas axes (exact for axis-aligned directions and isotropic spacing)."""
    matrix = np.array(grid.GetDirection()).reshape(3, 3)
    variance = np.maximum((np.array(grid.GetSpacing()) ** 2 - working_spacing_mm**2) * FWHM_TO_SIGMA**2, 0.0)
    return [float(np.sqrt((matrix[row] ** 2 * variance).sum())) for row in range(3)]


def oblique_direction(direction: tuple[float, ...], axis: np.ndarray, angle_deg: float) -> tuple[float, ...]:
    """``direction`` (row-major 3x3, columns = grid axes) rotated by ``angle_deg`` about the physical ``axis``."""
    if angle_deg == 0:
        return tuple(float(v) for v in direction)
    rotation = sitk.VersorTransform(
        [float(v) for v in axis / np.linalg.norm(axis)], float(np.deg2rad(angle_deg))
    )
    matrix = np.array(rotation.GetMatrix()).reshape(3, 3) @ np.asarray(direction, dtype=float).reshape(3, 3)
    return tuple(float(v) for v in matrix.ravel())


def thick_axis(grid: sitk.Image) -> int | None:
    """The grid axis whose spacing exceeds the others (thick slices), or None for an isotropic-ish grid."""
    spacing = np.array(grid.GetSpacing())
    axis = int(np.argmax(spacing))
    others = np.delete(spacing, axis)
    return axis if spacing[axis] > others.max() * (1.0 + 1e-6) else None


def subslice_grid(grid: sitk.Image, axis: int, working_spacing_mm: float) -> tuple[sitk.Image, int]:
    """The grid with each slice along ``axis`` split into n sub-slices no thicker than the working grid.

    Returns:
        (the sub-slice grid, n); averaging each run of n sub-slices gives a box slice profile on ``grid``.
    """
    spacing = list(grid.GetSpacing())
    count = int(np.ceil(spacing[axis] / working_spacing_mm - 1e-6))
    step = spacing[axis] / count
    direction = np.array(grid.GetDirection()).reshape(3, 3)
    origin = np.array(grid.GetOrigin()) - (spacing[axis] - step) / 2.0 * direction[:, axis]
    size = list(grid.GetSize())
    size[axis] *= count
    spacing[axis] = step
    fine = sitk.Image(size, sitk.sitkFloat32)
    fine.SetSpacing(spacing)
    fine.SetDirection(grid.GetDirection())
    fine.SetOrigin([float(v) for v in origin])
    return fine, count


def average_subslices(array: np.ndarray, axis: int, count: int) -> np.ndarray:
    """Mean of each run of ``count`` sub-slices along grid ``axis`` of a (z, y, x) array, float32."""
    numpy_axis = 2 - axis
    shape = list(array.shape)
    shape[numpy_axis : numpy_axis + 1] = [shape[numpy_axis] // count, count]
    return array.reshape(shape).mean(axis=numpy_axis + 1, dtype=np.float64).astype(np.float32)


def brain_points_mm(brain_mask: np.ndarray, grid: sitk.Image) -> np.ndarray:
    """Physical points (N, 3) in mm of the voxels where ``brain_mask`` (z, y, x) on ``grid`` is non-zero."""
    index = np.argwhere(brain_mask > 0)[:, ::-1].astype(float)  # (i, j, k) = (x, y, z) index order
    direction = np.array(grid.GetDirection()).reshape(3, 3)
    return np.array(grid.GetOrigin()) + (index * np.array(grid.GetSpacing())) @ direction.T


def continuous_index(
    points_mm: np.ndarray, grid: sitk.Image, motion: sitk.Euler3DTransform | None
) -> np.ndarray:
    """Continuous grid index (N, 3) of pre-contrast points after the scan's ``motion`` (None: identity)."""
    matrix, offset = np.eye(3), np.zeros(3)
    if motion is not None:  # q = M (p - c) + c + t = M p + offset
        matrix = np.array(motion.GetMatrix()).reshape(3, 3)
        centre = np.array(motion.GetCenter())
        offset = centre + np.array(motion.GetTranslation()) - matrix @ centre
    to_index = np.array(grid.GetDirection()).reshape(3, 3) / np.array(grid.GetSpacing())  # columns scaled
    weights = matrix.T @ to_index
    return points_mm @ weights + (offset - np.array(grid.GetOrigin())) @ to_index


def fraction_outside(points_mm: np.ndarray, grid: sitk.Image, motion: sitk.Euler3DTransform | None) -> float:
    """Fraction of the brain points (pre-contrast frame, mm) outside the voxel box of ``grid`` after ``motion``."""
    index = continuous_index(points_mm, grid, motion)
    size = np.array(grid.GetSize())
    inside = np.all((index >= -0.5) & (index <= size - 0.5), axis=1)
    return float(1.0 - inside.mean()) if len(points_mm) else 0.0


def crop_to_brain_fraction(
    grid: sitk.Image, points_mm: np.ndarray, motion: sitk.Euler3DTransform | None, fraction: float, side: str
) -> sitk.Image:
    """``grid`` cut on ``side`` (a key of ``SIDE_AXES``) so that about ``fraction`` of the brain lies outside.

    The cut falls on a slice boundary of the grid axis closest to the side's physical axis; the result is a
    smaller grid (same spacing and direction, other size and origin).
    """
    physical_axis, sign = SIDE_AXES[side]
    direction = np.array(grid.GetDirection()).reshape(3, 3)
    axis = int(np.argmax(np.abs(direction[physical_axis])))
    positive = sign * direction[physical_axis, axis] > 0
    coordinate = continuous_index(points_mm, grid, motion)[:, axis]
    size = list(grid.GetSize())
    if positive:  # keep slices 0 .. last
        boundary = np.round(np.quantile(coordinate, 1.0 - fraction) - 0.5) + 0.5
        first, last = 0, int(np.clip(boundary - 0.5, 0, size[axis] - 1))
    else:  # keep slices first .. size - 1
        boundary = np.round(np.quantile(coordinate, fraction) + 0.5) - 0.5
        first, last = int(np.clip(boundary + 0.5, 0, size[axis] - 1)), size[axis] - 1
    start = [0, 0, 0]
    start[axis] = first
    size[axis] = last - first + 1
    return sitk.RegionOfInterest(grid, size, start)
