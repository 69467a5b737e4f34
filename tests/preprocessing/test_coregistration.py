"""Tests of the rigid co-registration of LD/SD to PC on a full-head phantom with known motion."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from head_phantom import head_phantom, oblique_direction, stored_as

from gdr_toolkit.preprocessing.coregistration import (
    CoregistrationOptions,
    coregister_case,
    coregister_to_reference,
)
from gdr_toolkit.preprocessing.registration import RegistrationOptions

pytestmark = pytest.mark.filterwarnings("ignore:builtin type:DeprecationWarning")

OPTIONS = CoregistrationOptions(registration=RegistrationOptions(number_of_threads=2))
LPS = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _enhanced(image: sitk.Image, gain: float) -> sitk.Image:
    """Post-contrast-like copy: global gain plus bright enhancing spheres (mm) inside the head."""
    enhanced = image * gain
    for centre, radius in (((20.0, -10.0, 30.0), 8.0), ((-30.0, 20.0, 10.0), 5.0)):
        sphere = sitk.GaussianSource(sitk.sitkFloat32, image.GetSize(), [radius / s for s in image.GetSpacing()], image.TransformPhysicalPointToContinuousIndex(centre), 600.0)  # fmt: skip
        sphere.CopyInformation(image)
        enhanced = enhanced + sphere
    return enhanced


def _motion(
    angles_deg: tuple[float, float, float], translation_mm: tuple[float, float, float]
) -> sitk.Euler3DTransform:
    return sitk.Euler3DTransform((0.0, -18.0, 18.0), *np.radians(angles_deg), translation_mm)


@pytest.fixture(scope="module")
def case():
    head, brain = head_phantom(spacing_mm=1.5, seed=1)
    pre_contrast, mask = stored_as(head, brain, (2.0, 2.0, 2.0), LPS)
    low_motion, standard_motion = _motion((3, -2, 4), (4, -3, 2)), _motion((-2, 3, -3), (-3, 5, -2))
    scans = []
    for motion, gain, seed in ((low_motion, 1.1, 2), (standard_motion, 1.3, 3)):
        moved_head, _ = head_phantom(spacing_mm=1.5, seed=seed)
        moved = sitk.Resample(
            _enhanced(moved_head, gain), moved_head, motion.GetInverse(), sitk.sitkLinear, 0.0
        )
        scans.append(stored_as(moved, brain, (2.0, 2.0, 3.0), oblique_direction(15.0))[0])
    return pre_contrast, mask, scans, (low_motion, standard_motion)


def _mean_error_mm(mask: sitk.Image, found: sitk.Transform, true: sitk.Transform) -> float:
    indices = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[::20, ::-1]
    points = [mask.TransformIndexToPhysicalPoint([int(i) for i in index]) for index in indices]
    return float(
        np.mean(
            [np.linalg.norm(np.subtract(found.TransformPoint(p), true.TransformPoint(p))) for p in points]
        )
    )


def test_low_and_standard_dose_motion_is_recovered_and_resampled_onto_pc(case):
    pre_contrast, mask, (low_dose, standard_dose), motions = case
    result = coregister_case(pre_contrast, low_dose, standard_dose, brain_mask=mask, options=OPTIONS)
    for scan, motion in ((result.low_dose, motions[0]), (result.standard_dose, motions[1])):
        assert scan.image.GetSize() == pre_contrast.GetSize()
        assert scan.image.GetDirection() == pre_contrast.GetDirection()
        assert scan.image.GetPixelID() == sitk.sitkFloat32
        assert _mean_error_mm(mask, scan.registration.to_sitk_transform(), motion) < 1.0


def test_without_mask_and_without_standard_dose(case):
    pre_contrast, mask, (low_dose, _), motions = case
    linear = CoregistrationOptions(registration=OPTIONS.registration, interpolation="linear")
    result = coregister_case(pre_contrast, low_dose, options=linear)
    assert result.standard_dose is None
    assert _mean_error_mm(mask, result.low_dose.registration.to_sitk_transform(), motions[0]) < 1.0


def test_empty_brain_mask_is_rejected(case):
    pre_contrast, mask, (low_dose, _), _ = case
    with pytest.raises(ValueError, match="brain_mask is empty"):
        coregister_to_reference(low_dose, pre_contrast, brain_mask=mask * 0, options=OPTIONS)


def test_affine_coregistration_is_refused():
    with pytest.raises(ValueError, match="co-registration is rigid"):
        CoregistrationOptions(registration=RegistrationOptions(transform="affine"))


def test_simulated_case_motion_is_recovered_with_thick_slices():
    from gdr_toolkit.simulation.case_simulator import simulate_case
    from gdr_toolkit.simulation.settings import SimulationSettings

    settings = SimulationSettings(
        spacing_mm=2.0, direction=(0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 0.0), anisotropic_fraction=1.0
    )
    case = simulate_case(settings, seed=3)
    result = coregister_case(case.pre_contrast, case.low_dose, case.standard_dose, case.brain_mask, OPTIONS)
    for name, scan in (("low_dose", result.low_dose), ("standard_dose", result.standard_dose)):
        assert _mean_error_mm(case.brain_mask, scan.registration.to_sitk_transform(), case.motion[name]) < 1.0
