"""Test helper: crop a simulated CE scan so that a known share of the brain lies above its slab.

The crop keeps the scan's physical position (SimpleITK RegionOfInterest), as a scanner would when
planning a smaller slab; the true field of view on PC's grid follows from the simulator's known motion.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def _brain_points(brain_mask: sitk.Image) -> np.ndarray:
    """Physical points (mm), shape (n, 3), of the brain voxels of a mask."""
    indices = np.argwhere(sitk.GetArrayViewFromImage(brain_mask) > 0)[:, ::-1].astype(float)
    direction = np.array(brain_mask.GetDirection()).reshape(3, 3)
    return np.array(brain_mask.GetOrigin()) + (indices * np.array(brain_mask.GetSpacing())) @ direction.T


def crop_top(
    scan: sitk.Image, brain_mask: sitk.Image, motion: sitk.Transform, fraction_outside: float
) -> sitk.Image:
    """``scan`` cut along its most superior index axis so that ``fraction_outside`` of the brain is lost.

    Args:
        scan: a CE scan on its own grid.
        brain_mask: the brain on PC's grid (uint8).
        motion: PC physical point -> scan physical point.
        fraction_outside: share of brain voxels (PC grid) to leave above the slab, 0-1.

    Returns:
        The cropped scan (same spacing and direction, origin moved with the kept region).
    """
    if fraction_outside <= 0:
        return scan
    moved = np.array([motion.TransformPoint(point.tolist()) for point in _brain_points(brain_mask)[::7]])
    direction = np.array(scan.GetDirection()).reshape(3, 3)
    axis = int(np.argmax(np.abs(direction[2])))  # index axis most aligned with superior (+z, LPS)
    sign = np.sign(direction[2, axis])
    index = ((moved - np.array(scan.GetOrigin())) @ direction)[:, axis] / scan.GetSpacing()[axis]
    cut = np.quantile(index, 1.0 - fraction_outside if sign > 0 else fraction_outside)
    size, start = list(scan.GetSize()), [0, 0, 0]
    if sign > 0:
        size[axis] = int(np.floor(cut)) + 1
    else:
        start[axis] = int(np.ceil(cut))
        size[axis] -= start[axis]
    return sitk.RegionOfInterest(scan, size, start)


def true_field_of_view(scan: sitk.Image, reference: sitk.Image, motion: sitk.Transform) -> np.ndarray:
    """Bool (z, y, x) array on ``reference``'s grid: where ``scan`` has data under the true motion."""
    ones = sitk.Image(scan.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(scan)
    return sitk.GetArrayFromImage(sitk.Resample(ones, reference, motion, sitk.sitkNearestNeighbor, 0)) > 0
