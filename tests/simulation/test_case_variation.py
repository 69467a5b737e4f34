"""Cases that span real scans: two anatomies, head size, deformation, correlated noise, skull stripping."""

from __future__ import annotations

import nibabel
import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.preprocessing.noise import estimate_noise_sigma
from gdr_toolkit.simulation import SimulationSettings, simulate_case
from gdr_toolkit.simulation.anatomy_sources import fractions_from_code, load_anatomy, tissue_code
from gdr_toolkit.simulation.artifacts import gaussian_noise
from gdr_toolkit.simulation.case_variation import draw_case_variation
from gdr_toolkit.simulation.scanner_storage import write_rescaled_int16_atomic
from gdr_toolkit.simulation.skull_stripping import dilated_mask

# No deformation, scaling or motion: the simulated brain is the atlas brain (times the head scale).
STILL = {"max_rotation_deg": 0.0, "max_translation_mm": 0.0, "gain_range": (1.0, 1.0)}
FLAT = {"deformation_mm": 0.0, "max_scaling": 0.0, "max_rotation_deg": 0.0, "max_translation_mm": 0.0}
DICE_OF_THE_TWO_ANATOMIES = 0.96  # measured 0.94 at 4 mm (both in MNI space; same atlas: 1)
SCANS = ("pre_contrast", "low_dose", "standard_dose")


def _volume_ml(mask_image: sitk.Image) -> float:
    return float(sitk.GetArrayViewFromImage(mask_image).sum() * np.prod(mask_image.GetSpacing()) / 1000.0)


def _atlas_volume_ml(anatomy: str) -> float:
    return _volume_ml(load_anatomy(anatomy).brain_mask)


def _brain(settings: SimulationSettings, case_index: int = 0) -> np.ndarray:
    return sitk.GetArrayFromImage(simulate_case(settings, seed=2, case_index=case_index).brain_mask) > 0


def test_tissue_code_round_trip_gives_the_mixture_of_neighbouring_classes():
    coordinate = np.array([0.0, 0.5, 1.0, 1.25, 2.0, 1.7])
    csf, grey, white = fractions_from_code(tissue_code(coordinate, np.array([1, 1, 1, 1, 1, 0], dtype=bool)))
    expected = np.array(
        [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.75, 0.25], [0.0, 0.0, 1.0], [0, 0, 0]]
    )
    np.testing.assert_allclose(np.stack([csf, grey, white], axis=1), expected, atol=1.0 / 254)


@pytest.fixture(scope="module")
def flat_brains() -> dict[str, sitk.Image]:
    """The true brain mask of an undeformed, unscaled case of each anatomy (4 mm)."""
    return {
        name: simulate_case(SimulationSettings.tiny(anatomies=(name,), **FLAT), seed=2).brain_mask
        for name in ("mni152", "colin27")
    }


@pytest.mark.parametrize("anatomy", ["mni152", "colin27"])
def test_simulated_brain_is_the_chosen_atlas_brain_scaled_by_the_head_scale(anatomy, flat_brains):
    plain = sitk.GetArrayFromImage(flat_brains[anatomy]) > 0
    scaled = _brain(SimulationSettings.tiny(anatomies=(anatomy,), head_scale_range=(0.9, 0.9), **FLAT))
    assert _volume_ml(flat_brains[anatomy]) == pytest.approx(_atlas_volume_ml(anatomy), rel=0.02)
    assert scaled.sum() / plain.sum() == pytest.approx(0.9**3, rel=0.02)


def test_the_two_anatomies_are_different_brains(flat_brains):
    """Both atlases live in MNI space, yet their brains differ in volume (1,737 vs 1,883 ml) and shape."""
    assert _atlas_volume_ml("colin27") < 0.95 * _atlas_volume_ml("mni152")
    mni, colin = flat_brains["mni152"], flat_brains["colin27"]
    assert mni.GetSize() != colin.GetSize()  # each on its own box
    on_mni = sitk.GetArrayFromImage(sitk.Resample(colin, mni, sitk.Transform(), sitk.sitkNearestNeighbor)) > 0
    reference = sitk.GetArrayFromImage(mni) > 0
    assert 2 * (on_mni & reference).sum() / (on_mni.sum() + reference.sum()) < DICE_OF_THE_TWO_ANATOMIES


def test_deformation_changes_the_shape_and_keeps_the_volume_within_six_percent(flat_brains):
    """3 mm smooth displacement (the real_scans setting), no scaling: volume within +-6 %, Dice 0.85-0.98."""
    reference = sitk.GetArrayFromImage(flat_brains["mni152"]) > 0
    deformed = [_brain(SimulationSettings.tiny(**{**FLAT, "deformation_mm": 3.0}), index) for index in (0, 1)]
    for brain in deformed:
        assert brain.sum() / reference.sum() == pytest.approx(1.0, abs=0.06)
        assert 0.85 < 2 * (brain & reference).sum() / (brain.sum() + reference.sum()) < 0.98
    assert not np.array_equal(deformed[0], deformed[1])


def _lag_one_correlation(std_voxels: float) -> float:
    """Neighbour correlation of white noise filtered with the sampled Gaussian (radius 4 std, as scipy);
    exp(-1 / (4 std^2)) for a continuous Gaussian (0.50 at 0.6 voxels, the sampled one gives 0.44)."""
    if std_voxels == 0:
        return 0.0
    x = np.arange(-int(4 * std_voxels + 0.5), int(4 * std_voxels + 0.5) + 1)
    weights = np.exp(-0.5 * (x / std_voxels) ** 2)
    return float(np.sum(weights[1:] * weights[:-1]) / np.sum(weights**2))


def test_correlated_gaussian_noise_has_the_requested_sigma_and_neighbour_correlation():
    correlation = (1.0, 0.6, 0.0)
    noise = gaussian_noise((64, 64, 64), 3.0, np.random.default_rng(0), correlation)
    assert noise.std() == pytest.approx(3.0, rel=0.03)
    for axis, std in enumerate(correlation):
        shifted = np.moveaxis(noise, axis, 0)
        measured = np.corrcoef(shifted[1:].ravel(), shifted[:-1].ravel())[0, 1]
        assert measured == pytest.approx(_lag_one_correlation(std), abs=0.03)


@pytest.fixture(scope="module")
def correlated_case():
    """No motion, unit gains, SNR 40, every case with correlated noise (0.8-1.2 voxels)."""
    settings = SimulationSettings.tiny(
        **STILL,
        snr_range=(40.0, 40.0),
        correlated_noise_fraction=1.0,
        noise_correlation_voxels_range=(0.8, 1.2),
    )
    return simulate_case(settings, seed=4, case_index=0)


def test_estimator_recovers_the_injected_noise_of_a_correlated_noise_case(correlated_case):
    brain = sitk.GetArrayFromImage(correlated_case.brain_mask) > 0
    assert correlated_case.noiseless is not None
    for scan in SCANS:
        residual = sitk.GetArrayFromImage(getattr(correlated_case, scan)) - sitk.GetArrayFromImage(
            correlated_case.noiseless[scan]
        )
        sigma = correlated_case.noise_sigma[scan]
        assert estimate_noise_sigma(residual, brain) == pytest.approx(sigma, rel=0.05)
    subtraction = sitk.GetArrayFromImage(correlated_case.low_dose) - sitk.GetArrayFromImage(
        correlated_case.pre_contrast
    )
    expected = np.hypot(correlated_case.noise_sigma["low_dose"], correlated_case.noise_sigma["pre_contrast"])
    assert estimate_noise_sigma(subtraction, brain) == pytest.approx(expected, rel=0.05)
    neighbours = np.corrcoef(subtraction[brain][1:], subtraction[brain][:-1])[0, 1]
    assert neighbours > 0.3  # along x, where std 0.8-1.2 voxels gives 0.68-0.84 (white noise: ~0)


@pytest.fixture(scope="module")
def stripped_case():
    settings = SimulationSettings.tiny(skull_strip_fraction=1.0, skull_strip_dilation_mm_range=(4.0, 4.0))
    return simulate_case(settings, seed=6, case_index=0)


def test_skull_stripped_scans_are_zero_outside_the_dilated_brain_and_positive_inside(stripped_case):
    assert stripped_case.metadata["simulation"]["variation"]["skull_stripped"] is True
    pc = sitk.GetArrayFromImage(stripped_case.pre_contrast)
    brain = sitk.GetArrayFromImage(stripped_case.brain_mask) > 0
    support = dilated_mask(brain, stripped_case.pre_contrast.GetSpacing(), 4.0)
    assert np.all(pc[~support] == 0.0)
    assert np.all(pc[brain] > 0.0)
    assert (pc[support & ~brain] > 0).mean() > 0.9  # the 4 mm rim is kept
    for scan in SCANS[1:]:  # moved scans: zero far from the brain, data on it
        image = sitk.GetArrayFromImage(getattr(stripped_case, scan))
        assert (image == 0).mean() > 0.5 and np.all(image[dilated_mask(brain, (4, 4, 4), 1.0)] >= 0)
        assert (image[brain] > 0).mean() > 0.95


def test_skull_stripped_background_stays_exactly_zero_in_int16_storage(stripped_case, tmp_path):
    from gdr_toolkit.simulation.scanner_storage import int16_rescaling

    values = sitk.GetArrayFromImage(stripped_case.standard_dose)
    path = tmp_path / "sd.nii.gz"
    write_rescaled_int16_atomic(stripped_case.standard_dose, int16_rescaling(values), path)
    stored = np.asarray(nibabel.load(path).dataobj).transpose(2, 1, 0)
    np.testing.assert_array_equal(stored == 0, values == 0)


def test_coregistered_case_has_ld_and_sd_on_the_pc_grid_without_motion():
    settings = SimulationSettings.tiny(
        coregistered_fraction=1.0, anisotropic_fraction=1.0, oblique_fraction=1.0, fov_crop_fraction=1.0
    )
    case = simulate_case(settings, seed=8, case_index=0)
    assert case.metadata["simulation"]["variation"]["coregistered"] is True
    pc = case.pre_contrast
    for scan in SCANS[1:]:
        image = getattr(case, scan)
        assert (image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection()) == (
            pc.GetSize(),
            pc.GetSpacing(),
            pc.GetOrigin(),
            pc.GetDirection(),
        )
        assert case.motion[scan].GetParameters() == (0.0,) * 6
        assert case.brain_fraction_outside[scan] == 0.0


def test_real_scans_cases_are_reproducible_and_vary_between_cases():
    settings = SimulationSettings.real_scans(spacing_mm=4.0)
    first, again = (simulate_case(settings, seed=11, case_index=0) for _ in range(2))
    for scan in SCANS:
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(getattr(first, scan)), sitk.GetArrayFromImage(getattr(again, scan))
        )
    assert first.metadata == again.metadata
    records = [
        draw_case_variation(
            settings, np.random.default_rng(np.random.SeedSequence(11, spawn_key=(k,)).spawn(8)[7])
        )
        for k in range(40)
    ]
    assert records[0].record() == first.metadata["simulation"]["variation"]
    assert {record.anatomy for record in records} == {"mni152", "colin27"}
    assert len({record.head_scale for record in records}) == 40
    assert 0.3 < np.mean([record.skull_stripped for record in records]) < 0.7


def test_variation_draws_do_not_depend_on_the_shares():
    rng = [np.random.default_rng(5) for _ in range(2)]
    base = draw_case_variation(SimulationSettings(anatomies=("mni152", "colin27")), rng[0])
    other = draw_case_variation(
        SimulationSettings(
            anatomies=("mni152", "colin27"), skull_strip_fraction=1.0, correlated_noise_fraction=1.0
        ),
        rng[1],
    )
    assert (base.anatomy, base.head_scale) == (other.anatomy, other.head_scale)
    assert other.skull_stripped and other.noise_correlation_voxels is not None


def test_settings_reject_unknown_anatomy_and_round_trip_through_json():
    with pytest.raises(ValueError, match="anatomies"):
        SimulationSettings(anatomies=("mni305",))
    settings = SimulationSettings.real_scans(spacing_mm=4.0)
    assert SimulationSettings.from_json_dict(settings.to_json_dict()) == settings
