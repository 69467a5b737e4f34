"""Ground truth of a simulated case: enhancement with dose, noise level, motion, geometry."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.simulation import SimulationSettings, simulate_case
from gdr_toolkit.simulation.artifacts import add_rician_noise, rigid_motion_from_record

ARRAY = sitk.GetArrayFromImage
STILL = {"max_rotation_deg": 0.0, "max_translation_mm": 0.0, "gain_range": (1.0, 1.0)}  # as conftest


def test_scans_share_the_pc_grid_and_are_float32(tiny_case):
    for image in (tiny_case.pre_contrast, tiny_case.low_dose, tiny_case.standard_dose):
        assert image.GetPixelID() == sitk.sitkFloat32
        assert image.GetSize() == tiny_case.pre_contrast.GetSize()
    for image in (tiny_case.lesion_labels, tiny_case.brain_mask, tiny_case.bias_field):
        assert image.GetSize() == tiny_case.pre_contrast.GetSize()
        assert image.GetOrigin() == tiny_case.pre_contrast.GetOrigin()
    labels = ARRAY(tiny_case.lesion_labels)
    assert labels.dtype == np.uint16
    assert set(np.unique(labels)) == set(range(len(tiny_case.metadata["simulation"]["lesions"]) + 1))


def test_lesion_enhancement_grows_sublinearly_with_dose(still_case):
    pre, low, standard = (
        ARRAY(still_case.noiseless[scan]) for scan in ("pre_contrast", "low_dose", "standard_dose")
    )
    lesions = ARRAY(still_case.lesion_labels) > 0
    low_enhancement, standard_enhancement = (low - pre)[lesions].sum(), (standard - pre)[lesions].sum()
    dose = still_case.metadata["dose_fraction"]
    assert 0 < low_enhancement < standard_enhancement  # more dose, more enhancement
    assert low_enhancement / standard_enhancement > dose  # concave: LD gives more than its dose share
    outside = (ARRAY(still_case.brain_mask) > 0) & ~lesions
    assert np.median(np.abs(low - pre)[outside]) < 1e-3 * np.median(pre[outside])  # normal brain: no uptake


def test_rician_noise_has_requested_sigma_at_high_signal():
    rng = np.random.default_rng(0)
    noisy = add_rician_noise(np.full((40, 40, 40), 500.0, dtype=np.float32), 10.0, rng)
    assert noisy.std() == pytest.approx(10.0, rel=0.05)


def test_noise_sigma_matches_requested_snr():
    settings = SimulationSettings.tiny(bias_field_strength=0.0, snr_range=(20.0, 20.0))
    case = simulate_case(settings, seed=11)
    for scan in ("pre_contrast", "low_dose", "standard_dose"):
        gain = case.gains[scan]
        # bias-free white matter signal is reference_intensity * gain (partial volume lowers the mean a bit)
        assert case.noise_sigma[scan] == pytest.approx(settings.reference_intensity * gain / 20.0, rel=0.1)
        noisy, clean = ARRAY(getattr(case, scan)), ARRAY(case.noiseless[scan])
        background = clean == 0  # air: Rayleigh noise, E[x^2] = 2 sigma^2
        measured = np.sqrt(np.mean(noisy[background] ** 2) / 2.0)
        assert measured == pytest.approx(case.noise_sigma[scan], rel=0.1)
        bright = clean > 8 * case.noise_sigma[scan]  # Rician ~ Gaussian here
        assert np.std((noisy - clean)[bright]) == pytest.approx(case.noise_sigma[scan], rel=0.1)


def test_recorded_motion_is_the_applied_motion():
    settings = SimulationSettings.tiny(max_rotation_deg=6.0, max_translation_mm=8.0, gain_range=(1.0, 1.0))
    case = simulate_case(settings, seed=2)
    pre = case.noiseless["pre_contrast"]
    brain = ARRAY(case.brain_mask) > 0
    for scan in ("low_dose", "standard_dose"):
        record = case.metadata["simulation"]["motion"][scan]
        transform = rigid_motion_from_record(record)
        assert np.allclose(transform.GetParameters(), case.motion[scan].GetParameters())
        moved = case.noiseless[scan]
        corrected = sitk.Resample(moved, pre, transform, sitk.sitkLinear, 0.0)  # PC point -> scan point
        error_before = np.abs(ARRAY(moved) - ARRAY(pre))[brain].mean()
        error_after = np.abs(ARRAY(corrected) - ARRAY(pre))[brain].mean()
        assert error_after < 0.35 * error_before


def test_direction_option_keeps_the_phantom_in_physical_space():
    flipped = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # permutation with flips
    still = {"max_rotation_deg": 0.0, "max_translation_mm": 0.0}
    reference = simulate_case(SimulationSettings.tiny(**still), seed=4)
    rotated = simulate_case(SimulationSettings.tiny(direction=flipped, **still), seed=4)
    assert rotated.pre_contrast.GetDirection() == pytest.approx(flipped)
    back = sitk.Resample(
        rotated.noiseless["pre_contrast"], reference.pre_contrast, sitk.Transform(), sitk.sitkLinear
    )
    brain = ARRAY(reference.brain_mask) > 0
    difference = np.abs(ARRAY(back) - ARRAY(reference.noiseless["pre_contrast"]))[brain]
    assert np.median(difference) < 0.03 * np.median(ARRAY(reference.noiseless["pre_contrast"])[brain])


def test_anisotropic_cases_have_thick_contrast_slices():
    case = simulate_case(SimulationSettings.tiny(anisotropic_fraction=1.0), seed=1)
    pc, ld = case.pre_contrast.GetSpacing(), case.low_dose.GetSpacing()
    assert ld[:2] == pc[:2] and 2.0 * pc[2] <= ld[2] <= 3.0 * pc[2]
    assert case.standard_dose.GetSpacing() == ld
    assert case.metadata["simulation"]["scan"]["low_dose"]["spacing_mm"] == list(ld)


def test_same_seed_gives_identical_arrays(tiny_case):
    again = simulate_case(SimulationSettings.tiny(), seed=3, case_index=0)
    for scan in ("pre_contrast", "low_dose", "standard_dose", "lesion_labels"):
        assert np.array_equal(ARRAY(getattr(again, scan)), ARRAY(getattr(tiny_case, scan)))
    assert again.metadata == tiny_case.metadata
    other = simulate_case(SimulationSettings.tiny(), seed=3, case_index=1)
    assert not np.array_equal(ARRAY(other.pre_contrast), ARRAY(tiny_case.pre_contrast))


@pytest.fixture(scope="module")
def cropped_case():
    """tiny_case's phantom (seed 3) with the LD and SD slabs missing part of the brain."""
    return simulate_case(SimulationSettings.tiny(fov_crop_fraction=1.0), seed=3, case_index=0)


def test_cropped_slab_is_a_smaller_grid_holding_the_same_physical_sub_box(cropped_case, tiny_case):
    for scan in ("low_dose", "standard_dose"):
        cropped, full = cropped_case.noiseless[scan], tiny_case.noiseless[scan]
        assert cropped.GetSize()[:2] == full.GetSize()[:2] and cropped.GetSize()[2] < full.GetSize()[2]
        start = full.TransformPhysicalPointToIndex(cropped.GetOrigin())
        assert cropped.GetOrigin() == pytest.approx(full.TransformIndexToPhysicalPoint(start), abs=1e-6)
        sub_box = sitk.RegionOfInterest(full, cropped.GetSize(), start)
        assert np.allclose(ARRAY(cropped), ARRAY(sub_box), rtol=1e-5, atol=1e-3)
    assert cropped_case.pre_contrast.GetSize() == tiny_case.pre_contrast.GetSize()


def test_recorded_brain_fraction_outside_matches_the_covered_brain_volume(cropped_case):
    brain = sitk.Cast(cropped_case.brain_mask, sitk.sitkFloat32)
    brain_volume = ARRAY(brain).sum() * np.prod(brain.GetSpacing())
    record = cropped_case.metadata["simulation"]
    for scan in ("low_dose", "standard_dose"):
        target = record["acquisition"]["fov_target_brain_fraction_outside"][scan]
        recorded = record["field_of_view"][scan]["brain_fraction_outside"]
        assert recorded == pytest.approx(cropped_case.brain_fraction_outside[scan], abs=1e-6)
        assert recorded > 0.05
        assert recorded == pytest.approx(target, abs=0.1)  # the cut falls on a 4 mm slice boundary
        grid = getattr(cropped_case, scan)
        # brain seen by the scan: the PC brain moved by the scan's motion, sampled on the scan's grid
        seen = sitk.Resample(brain, grid, cropped_case.motion[scan].GetInverse(), sitk.sitkLinear, 0.0)
        covered = ARRAY(seen).sum() * np.prod(grid.GetSpacing()) / brain_volume
        assert recorded == pytest.approx(1.0 - covered, abs=0.03)
    assert record["field_of_view"]["pre_contrast"]["brain_fraction_outside"] == 0.0


def test_thick_slice_mprage_case_has_thick_pc_and_records_the_inversion_time():
    settings = SimulationSettings.tiny(
        thick_pc_fraction=1.0, thick_slice_mm_range=(8.0, 10.0), mprage_fraction=1.0
    )
    case = simulate_case(settings, seed=3)
    spacing = case.pre_contrast.GetSpacing()
    assert spacing[:2] == (4.0, 4.0) and 8.0 <= spacing[2] <= 10.0
    for image in (case.lesion_labels, case.brain_mask, case.bias_field):
        assert image.GetSize() == case.pre_contrast.GetSize() and image.GetSpacing() == spacing
    assert case.metadata["simulation"]["sequence_preset"].startswith("mprage_")
    assert case.metadata["inversion_time_ms"] in (900.0, 1000.0)
    assert case.metadata["simulation"]["acquisition"]["sequence_kind"] == "mprage"
    brain = ARRAY(case.brain_mask) > 0  # the intensity scale holds: brain between CSF and WM level
    assert 300 < np.median(ARRAY(case.noiseless["pre_contrast"])[brain]) < 1500


def test_oblique_case_keeps_the_phantom_in_physical_space(still_case):
    oblique = simulate_case(SimulationSettings.tiny(oblique_fraction=1.0, **STILL), seed=5, case_index=0)
    angles = oblique.metadata["simulation"]["acquisition"]["oblique_angle_deg"]
    reference = np.array(still_case.pre_contrast.GetDirection()).reshape(3, 3)
    for scan in ("pre_contrast", "low_dose"):
        direction = np.array(getattr(oblique, scan).GetDirection()).reshape(3, 3)
        rotation_deg = np.degrees(np.arccos((np.trace(direction @ reference.T) - 1.0) / 2.0))
        assert rotation_deg == pytest.approx(angles[scan], abs=1e-6) and 3.0 <= rotation_deg <= 15.0
    assert oblique.low_dose.GetDirection() == oblique.standard_dose.GetDirection()
    brain = ARRAY(still_case.brain_mask) > 0
    for scan in ("pre_contrast", "standard_dose"):
        truth = ARRAY(still_case.noiseless[scan])
        back = sitk.Resample(
            oblique.noiseless[scan], still_case.pre_contrast, sitk.Transform(), sitk.sitkLinear
        )
        assert np.median(np.abs(ARRAY(back) - truth)[brain]) < 0.03 * np.median(truth[brain])
