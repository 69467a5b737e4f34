"""Tests of the rigid co-registration of LD/SD to PC on a full-head phantom and simulated cases with known
motion, including LD slabs that miss part of the brain, and of the registration quality measure."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from fov_crop import crop_top, true_field_of_view
from head_phantom import head_phantom, oblique_direction, stored_as

from gdr_toolkit.preprocessing.coregistration import (
    CoregistrationOptions,
    coregister_case,
    coregister_to_reference,
    registration_quality,
)
from gdr_toolkit.preprocessing.masks import field_of_view
from gdr_toolkit.preprocessing.registration import RegistrationOptions
from gdr_toolkit.simulation.case_simulator import simulate_case
from gdr_toolkit.simulation.settings import SimulationSettings

pytestmark = pytest.mark.filterwarnings("ignore:builtin type:DeprecationWarning")

OPTIONS = CoregistrationOptions(registration=RegistrationOptions(initialisation="none", number_of_threads=2))
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
    settings = SimulationSettings(
        spacing_mm=2.0, direction=(0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 0.0), anisotropic_fraction=1.0
    )
    case = simulate_case(settings, seed=3)
    result = coregister_case(case.pre_contrast, case.low_dose, case.standard_dose, case.brain_mask, OPTIONS)
    for name, scan in (("low_dose", result.low_dose), ("standard_dose", result.standard_dose)):
        assert _mean_error_mm(case.brain_mask, scan.registration.to_sitk_transform(), case.motion[name]) < 1.0


@pytest.fixture(scope="module")
def simulated():
    settings = SimulationSettings(spacing_mm=2.0, lesion_count_range=(3, 4), snr_range=(25.0, 30.0))
    return simulate_case(settings, seed=11, case_index=0)


@pytest.fixture(
    scope="module",
    params=[0.0, pytest.param(0.1, marks=pytest.mark.slow), pytest.param(0.2, marks=pytest.mark.slow), 0.3],
    ids=lambda fraction: f"{fraction:.0%}_outside",
)
def partial(request, simulated):
    """LD cut so that a known share of the brain lies above its slab, co-registered to PC."""
    low_dose = crop_top(simulated.low_dose, simulated.brain_mask, simulated.motion["low_dose"], request.param)
    result = coregister_to_reference(low_dose, simulated.pre_contrast, simulated.brain_mask, OPTIONS)
    return request.param, low_dose, result


def _rotation_error_deg(found: sitk.Transform, true: sitk.Transform) -> float:
    relative = np.array(found.GetMatrix()).reshape(3, 3).T @ np.array(true.GetMatrix()).reshape(3, 3)
    return float(np.degrees(np.arccos(np.clip((np.trace(relative) - 1) / 2, -1.0, 1.0))))


def test_motion_is_recovered_when_the_slab_misses_part_of_the_brain(partial, simulated):
    _, _, result = partial
    found, true = result.registration.to_sitk_transform(), simulated.motion["low_dose"]
    assert _mean_error_mm(simulated.brain_mask, found, true) < 1.0
    assert _rotation_error_deg(found, true) < 1.0


def test_valid_mask_matches_the_true_field_of_view(partial, simulated):
    _, low_dose, result = partial
    truth = true_field_of_view(low_dose, simulated.pre_contrast, simulated.motion["low_dose"])
    found = sitk.GetArrayViewFromImage(result.valid_mask) > 0
    assert result.valid_mask.GetPixelID() == sitk.sitkUInt8
    assert 2 * (truth & found).sum() / (truth.sum() + found.sum()) > 0.98


def test_partial_coverage_is_measured_and_accepted(partial):
    fraction, _, result = partial
    assert result.quality.fov_overlap == pytest.approx(1.0 - fraction, abs=0.02)
    assert result.quality.accepted


def _quality_under(transform: sitk.Transform, simulated) -> tuple[float, bool]:
    """Quality of LD placed on PC's grid with ``transform`` (PC point -> LD point)."""
    low_dose, reference = simulated.low_dose, simulated.pre_contrast
    image = sitk.Resample(low_dose, reference, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    valid = sitk.Resample(field_of_view(low_dose), reference, transform, sitk.sitkNearestNeighbor, 0)
    quality = registration_quality(image, reference, valid, simulated.brain_mask)
    return quality.similarity, quality.accepted


def test_a_badly_misregistered_pair_is_caught_and_the_simulated_motion_accepted(simulated):
    true = simulated.motion["low_dose"]
    error = sitk.Euler3DTransform(true.GetCenter(), np.radians(10.0), 0.0, 0.0, (40.0, 0.0, 0.0))
    similarity, accepted = _quality_under(true, simulated)
    wrong_similarity, wrong_accepted = _quality_under(sitk.CompositeTransform([true, error]), simulated)
    assert accepted and similarity > 0.8
    assert not wrong_accepted and wrong_similarity < 0.3


def test_identical_scans_have_full_overlap_and_similarity_one(case):
    pre_contrast, mask, _, _ = case
    valid = field_of_view(pre_contrast)
    quality = registration_quality(pre_contrast * 2.0 + 5.0, pre_contrast, valid, mask)
    assert (quality.fov_overlap, quality.similarity, quality.accepted) == (1.0, 1.0, True)


def test_a_scan_stored_in_another_frame_is_recovered_by_the_retry(simulated):
    """LD's header moved by 60 mm (as if exported in another frame): the identity start fails, the
    centre-of-gravity retry finds the motion."""
    offset = (0.0, 60.0, 60.0)
    low_dose = sitk.Image(simulated.low_dose)
    low_dose.SetOrigin(tuple(np.add(low_dose.GetOrigin(), offset)))
    true = sitk.CompositeTransform([sitk.TranslationTransform(3, offset), simulated.motion["low_dose"]])
    result = coregister_to_reference(low_dose, simulated.pre_contrast, simulated.brain_mask, OPTIONS)
    assert _mean_error_mm(simulated.brain_mask, result.registration.to_sitk_transform(), true) < 1.0
    assert result.quality.accepted
