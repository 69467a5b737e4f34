"""Scan geometry: slab cropping to a brain fraction, box slice profile, oblique directions."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.simulation.scan_geometry import (
    average_subslices,
    crop_to_brain_fraction,
    fraction_outside,
    oblique_direction,
    subslice_grid,
)

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _grid(size=(20, 20, 40), spacing=(2.0, 2.0, 2.0)) -> sitk.Image:
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing(spacing)
    grid.SetOrigin((-20.0, -20.0, -40.0))
    return grid


@pytest.mark.parametrize("side", ["superior", "inferior"])
@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_crop_leaves_the_requested_brain_fraction_outside(side, fraction):
    points = np.random.default_rng(0).uniform([-15, -15, -30], [15, 15, 30], size=(20000, 3))  # "brain"
    motion = sitk.Euler3DTransform((0.0, 0.0, 0.0), 0.0, 0.0, 0.05, (0.0, 0.0, 5.0))
    full = _grid()
    cropped = crop_to_brain_fraction(full, points, motion, fraction, side)
    assert fraction_outside(points, full, motion) == 0.0
    # one 2 mm slice holds 1/30 of this 60 mm tall brain: the cut falls within half a slice of the target
    assert fraction_outside(points, cropped, motion) == pytest.approx(fraction, abs=0.5 / 30 + 0.01)
    assert cropped.GetSize()[:2] == full.GetSize()[:2] and cropped.GetSize()[2] < full.GetSize()[2]
    moved_z = points[:, 2] + 5.0  # the motion lifts the head by 5 mm: the slab is cut in the scan's frame
    top = cropped.GetOrigin()[2] + (cropped.GetSize()[2] - 0.5) * 2.0
    bottom = cropped.GetOrigin()[2] - 1.0
    expected = np.mean(moved_z > top) if side == "superior" else np.mean(moved_z < bottom)
    assert fraction_outside(points, cropped, motion) == pytest.approx(expected, abs=0.01)


def test_thick_slices_average_the_box_profile_not_a_point():
    # object: signal 1 above z = 1.3 mm, 0 below, on a 0.1 mm grid along z
    thick = _grid(size=(2, 2, 4), spacing=(1.0, 1.0, 4.0))
    thick.SetOrigin((0.0, 0.0, -6.0))  # slices cover [-8,-4], [-4,0], [0,4], [4,8]
    fine, count = subslice_grid(thick, 2, 0.1)
    assert count == 40 and fine.GetSpacing()[2] == pytest.approx(0.1)
    z = np.array([fine.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(fine.GetSize()[2])])
    values = np.broadcast_to((z > 1.3).astype(np.float32)[:, None, None], (160, 2, 2))
    profile = average_subslices(np.ascontiguousarray(values), 2, count)[:, 0, 0]
    assert profile == pytest.approx([0.0, 0.0, (4.0 - 1.3) / 4.0, 1.0], abs=0.5 / 40)


def test_oblique_direction_is_orthonormal_and_rotated_by_the_angle():
    rotated = np.array(oblique_direction(IDENTITY, np.array([1.0, 2.0, 0.5]), 12.0)).reshape(3, 3)
    assert rotated @ rotated.T == pytest.approx(np.eye(3), abs=1e-12)
    angle = np.degrees(np.arccos((np.trace(rotated) - 1.0) / 2.0))
    assert angle == pytest.approx(12.0)
    assert oblique_direction(IDENTITY, np.array([0.0, 0.0, 1.0]), 0.0) == IDENTITY
