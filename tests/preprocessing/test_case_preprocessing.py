"""The per-case pipeline on a simulated 2 mm case, checked against the simulator's ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from fov_crop import crop_top, true_field_of_view

from gdr_toolkit.dataset.metadata import parse_case_metadata
from gdr_toolkit.preprocessing.case_preprocessing import INPUT_ARRAYS, TARGET_ARRAYS, preprocess_case
from gdr_toolkit.simulation.case_simulator import simulate_case
from gdr_toolkit.simulation.settings import SimulationSettings


@pytest.fixture(scope="module")
def simulated():
    settings = SimulationSettings(spacing_mm=2.0, lesion_count_range=(3, 4), snr_range=(25.0, 30.0))
    return simulate_case(settings, seed=11, case_index=0)


@pytest.fixture(scope="module")
def training_case(simulated):
    metadata = parse_case_metadata(simulated.metadata)
    return preprocess_case(simulated.pre_contrast, simulated.low_dose, simulated.standard_dose, metadata)


@pytest.fixture(scope="module")
def inference_case(simulated):
    return preprocess_case(simulated.pre_contrast, simulated.low_dose)


def _truth(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def test_arrays_lie_on_the_pre_contrast_grid_and_are_finite(training_case, simulated):
    shape = _truth(simulated.pre_contrast).shape
    for name in (*INPUT_ARRAYS, *TARGET_ARRAYS, "x_pc", "x_sd", "brain_mask"):
        assert training_case.arrays[name].shape == shape, name
        assert np.isfinite(training_case.arrays[name]).all(), name
    assert training_case.properties.geometry["spacing_mm"] == list(simulated.pre_contrast.GetSpacing())
    json.dumps(training_case.properties.to_json_dict())  # the record is JSON-ready


def test_brain_mask_matches_the_true_brain(training_case, simulated):
    truth = _truth(simulated.brain_mask).astype(bool)
    found = training_case.arrays["brain_mask"].astype(bool)
    dice = 2 * (truth & found).sum() / (truth.sum() + found.sum())
    assert dice >= 0.90


def test_low_dose_motion_is_recovered(training_case, simulated):
    applied = simulated.motion["low_dose"]
    recovered = training_case.registrations["low_dose"].to_sitk_transform()
    brain = np.argwhere(_truth(simulated.brain_mask) > 0)[::50]
    points = [
        simulated.pre_contrast.TransformIndexToPhysicalPoint([int(i) for i in idx[::-1]]) for idx in brain
    ]
    errors = [
        np.linalg.norm(np.subtract(applied.TransformPoint(p), recovered.TransformPoint(p))) for p in points
    ]
    assert float(np.mean(errors)) < 1.0


def test_radiometric_scale_recovers_the_relative_receiver_gain(training_case, simulated):
    scales = training_case.properties.intensity_scales
    for name in ("low_dose", "standard_dose"):
        a = training_case.properties.radiometric_scales[name]
        recovered_gain_ratio = a * scales["pre_contrast"] / scales[name]
        true_gain_ratio = simulated.gains["pre_contrast"] / simulated.gains[name]
        assert recovered_gain_ratio == pytest.approx(true_gain_ratio, rel=0.03), name


def test_lesions_carry_the_contrast_target(training_case, simulated):
    lesions = _truth(simulated.lesion_labels) > 0
    brain = training_case.arrays["brain_mask"].astype(bool)
    far_from_lesions = brain & ~(
        sitk.GetArrayFromImage(sitk.BinaryDilate(simulated.lesion_labels > 0, [3] * 3)) > 0
    )
    p_sd, y_sd = training_case.arrays["p_sd"], training_case.arrays["y_sd"]
    assert p_sd[lesions].mean() > 10 * p_sd[far_from_lesions].mean()
    assert y_sd[lesions].mean() > 5 * training_case.properties.noise_sigma_ld
    assert ((p_sd >= 0) & (p_sd <= 1)).all()


def _robust_std(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def test_noise_normalisation_matches_ld_and_sd_noise(training_case, simulated):
    arrays = training_case.arrays
    lesion_free = ~(sitk.GetArrayFromImage(sitk.BinaryDilate(simulated.lesion_labels > 0, [4] * 3)) > 0)
    quiet = arrays["brain_mask"].astype(bool) & lesion_free
    raw_ratio = _robust_std(training_case.arrays["s_sd"][quiet]) / _robust_std(arrays["s_ld"][quiet])
    ratio = _robust_std(arrays["z_sd"][quiet]) / _robust_std(arrays["z_ld"][quiet])
    assert ratio == pytest.approx(1.0, abs=0.10)
    assert abs(raw_ratio - 1.0) > abs(ratio - 1.0)  # eq. 1 brought them closer than they were


def test_inference_path_gives_the_training_inputs(training_case, inference_case):
    assert set(TARGET_ARRAYS).isdisjoint(inference_case.arrays)
    assert inference_case.properties.gamma_statistic is None
    assert (
        training_case.properties.gamma_statistic > 1.0
    )  # SD holds more contrast-free noise after eq. 1 scaling
    for name in INPUT_ARRAYS:
        np.testing.assert_allclose(inference_case.arrays[name], training_case.arrays[name], atol=1e-4)


def test_condition_values_come_from_the_metadata(training_case, simulated):
    condition = training_case.properties.condition
    assert condition["dose_fraction"] == simulated.metadata["dose_fraction"]
    assert condition["field_strength_t"] == simulated.metadata["field_strength_t"]
    assert condition["relaxivity"] > 0


def test_the_brain_mask_source_is_recorded(training_case, simulated):
    assert training_case.properties.brain_mask_source == "atlas"
    stripped_pc = sitk.Mask(simulated.pre_contrast, simulated.brain_mask)  # a skull-stripped PC
    stripped = preprocess_case(stripped_pc, sitk.Mask(simulated.low_dose, simulated.brain_mask))
    assert stripped.properties.brain_mask_source == "support"
    assert "atlas" not in stripped.properties.transforms
    truth = _truth(simulated.brain_mask).astype(bool)
    np.testing.assert_array_equal(stripped.arrays["brain_mask"].astype(bool), truth)
    given = preprocess_case(simulated.pre_contrast, simulated.low_dose, brain_mask=simulated.brain_mask)
    assert given.properties.brain_mask_source == "given"
    assert json.loads(json.dumps(stripped.properties.to_json_dict()))["brain_mask_source"] == "support"


def test_nan_input_is_refused(simulated):
    broken = sitk.Image(simulated.low_dose)
    broken[1, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="low_dose"):
        preprocess_case(simulated.pre_contrast, broken)


def test_empty_given_brain_mask_is_refused(simulated):
    empty = sitk.Image(simulated.brain_mask) * 0
    with pytest.raises(ValueError, match="brain mask is empty"):
        preprocess_case(simulated.pre_contrast, simulated.low_dose, brain_mask=empty)


def _injected_sigma_ld(case, simulated) -> float:
    """Noise std of z~_LD from the simulator's injected noise, in the case's normalised units."""
    scales, ratio = case.properties.intensity_scales, case.properties.radiometric_scales["low_dose"]
    low = ratio * simulated.noise_sigma["low_dose"] / scales["low_dose"]
    return float(np.hypot(low, simulated.noise_sigma["pre_contrast"] / scales["pre_contrast"]))


@pytest.fixture(
    scope="module",
    params=[pytest.param(0.1, marks=pytest.mark.slow), pytest.param(0.2, marks=pytest.mark.slow), 0.3],
    ids=lambda fraction: f"{fraction:.0%}_outside",
)
def cropped_case(request, simulated):
    """LD missing ``fraction`` of the brain, SD missing 15 %; the known brain mask saves the atlas step."""
    low_dose = crop_top(simulated.low_dose, simulated.brain_mask, simulated.motion["low_dose"], request.param)
    standard_dose = crop_top(
        simulated.standard_dose, simulated.brain_mask, simulated.motion["standard_dose"], 0.15
    )
    case = preprocess_case(simulated.pre_contrast, low_dose, standard_dose, brain_mask=simulated.brain_mask)
    truth = {
        name: true_field_of_view(scan, simulated.pre_contrast, simulated.motion[name])
        for name, scan in (("low_dose", low_dose), ("standard_dose", standard_dose))
    }
    return request.param, case, truth


def test_sigma_ld_matches_the_injected_noise_when_ld_misses_part_of_the_brain(cropped_case, simulated):
    _, case, _ = cropped_case
    assert case.properties.noise_sigma_ld == pytest.approx(_injected_sigma_ld(case, simulated), rel=0.10)


def test_valid_mask_is_where_both_contrast_scans_have_data(cropped_case):
    _, case, truth = cropped_case
    expected = truth["low_dose"] & truth["standard_dose"]
    found = case.arrays["valid_mask"]
    assert found.dtype == np.uint8
    assert 2 * (expected & (found > 0)).sum() / (expected.sum() + found.sum()) > 0.98


def test_coverage_and_registration_quality_are_recorded(cropped_case):
    fraction, case, _ = cropped_case
    properties = case.properties
    assert properties.coverage["low_dose"] == pytest.approx(1.0 - fraction, abs=0.02)
    assert properties.coverage["standard_dose"] == pytest.approx(0.85, abs=0.02)
    for name in ("low_dose", "standard_dose"):
        quality = properties.registration_quality[name]
        assert quality["accepted"] and quality["fov_overlap"] == properties.coverage[name]
    json.dumps(properties.to_json_dict())


def test_arrays_are_filled_outside_each_scans_field_of_view(cropped_case):
    _, case, truth = cropped_case
    arrays = case.arrays
    for suffix, name in (("ld", "low_dose"), ("sd", "standard_dose")):
        outside = ~(sitk.GetArrayFromImage(sitk.BinaryDilate(_as_image(truth[name]), [1] * 3)) > 0)
        inside_brain = arrays["brain_mask"].astype(bool) & truth[name]
        np.testing.assert_array_equal(arrays[f"x_{suffix}"][outside], arrays["x_pc"][outside])
        assert (arrays[f"z_{suffix}"][outside] == 0).all()
        assert np.allclose(
            arrays[f"s_{suffix}"][outside], np.median(arrays[f"s_{suffix}"][inside_brain]), rtol=0.05
        )
    sd_outside = ~(sitk.GetArrayFromImage(sitk.BinaryDilate(_as_image(truth["standard_dose"]), [1] * 3)) > 0)
    assert (arrays["y_sd"][sd_outside] == 0).all() and (arrays["p_sd"][sd_outside] == 0).all()


def _as_image(array: np.ndarray) -> sitk.Image:
    return sitk.GetImageFromArray(array.astype(np.uint8))


def test_condition_values_leave_out_what_the_metadata_lack():
    """A synthetic low dose from an archive has a dose only: the condition holds no field or relaxivity."""
    from gdr_toolkit.dataset.metadata import parse_case_metadata
    from gdr_toolkit.preprocessing.case_preprocessing import condition_values

    assert condition_values(parse_case_metadata({"dose_fraction": 0.33})) == {"dose_fraction": 0.33}
