"""Tests of the atlas brain mask on a full-head phantom stored in several orientations and spacings."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from head_phantom import dice, head_phantom, oblique_direction, stored_as

from gdr_toolkit.preprocessing.brain_mask import BrainMaskOptions, atlas_brain_mask, head_like_atlas

pytestmark = pytest.mark.filterwarnings("ignore:builtin type:DeprecationWarning")

OPTIONS = BrainMaskOptions(number_of_threads=2)
LPS = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
RAS = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
PERMUTED = (0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # voxel axes run S, R, A


@pytest.fixture(scope="module")
def phantom() -> tuple[sitk.Image, sitk.Image]:
    return head_phantom(spacing_mm=1.5)


@pytest.mark.parametrize(
    ("spacing_mm", "direction"),
    [
        ((2.0, 2.0, 2.0), LPS),
        ((2.0, 2.0, 4.0), RAS),
        ((2.0, 4.0, 2.0), PERMUTED),
        ((2.0, 2.0, 3.0), oblique_direction()),
    ],
    ids=["lps-2mm", "ras-2x2x4mm", "permuted-2x4x2mm", "oblique-2x2x3mm"],
)
def test_atlas_mask_matches_the_true_brain(phantom, spacing_mm, direction):
    image, true_mask = stored_as(*phantom, spacing_mm, direction)
    result = atlas_brain_mask(image, OPTIONS)
    assert result.mask.GetPixelID() == sitk.sitkUInt8
    assert result.mask.GetSize() == image.GetSize()
    assert result.mask.GetDirection() == pytest.approx(image.GetDirection())
    assert result.mask.GetOrigin() == pytest.approx(image.GetOrigin())
    assert dice(result.mask, true_mask) >= 0.90
    assert result.registration.transform_kinds == ("rigid", "affine", "affine")


def test_head_like_atlas_has_a_bright_scalp_around_the_brain():
    head = head_like_atlas(3.0)
    values = sitk.GetArrayViewFromImage(head)
    assert head.GetSpacing() == pytest.approx((3.0, 3.0, 3.0))
    assert np.isfinite(values).all()
    centre = head.TransformPhysicalPointToIndex((0.0, -18.0, 18.0))
    row = values[centre[2], centre[1], :]
    assert row.max() > 0.5
    assert row[0] < 1e-3 and row[-1] < 1e-3


def test_constant_image_is_rejected():
    constant = sitk.Image([20, 20, 20], sitk.sitkFloat32)
    with pytest.raises(ValueError, match="pre_contrast is constant"):
        atlas_brain_mask(constant, OPTIONS)


def test_two_dimensional_image_is_rejected():
    with pytest.raises(ValueError, match="pre_contrast: expected a single-channel 3D image"):
        atlas_brain_mask(sitk.Image([20, 20], sitk.sitkFloat32), OPTIONS)


def test_invalid_spacing_names_the_option():
    with pytest.raises(ValueError, match="registration_spacing_mm must be in"):
        BrainMaskOptions(registration_spacing_mm=0.0)


@pytest.mark.slow
def test_atlas_mask_at_1x1x3mm(phantom):
    image, true_mask = stored_as(*phantom, (1.0, 1.0, 3.0), RAS)
    assert dice(atlas_brain_mask(image, OPTIONS).mask, true_mask) >= 0.90


def test_atlas_mask_on_a_simulated_oblique_case():
    from gdr_toolkit.simulation.case_simulator import simulate_case
    from gdr_toolkit.simulation.settings import SimulationSettings

    case = simulate_case(SimulationSettings(spacing_mm=2.0, direction=oblique_direction()), seed=3)
    assert dice(atlas_brain_mask(case.pre_contrast, OPTIONS).mask, case.brain_mask) >= 0.90
