"""The per-case pipeline on a simulated 2 mm case, checked against the simulator's ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

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


def test_nan_input_is_refused(simulated):
    broken = sitk.Image(simulated.low_dose)
    broken[1, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="low_dose"):
        preprocess_case(simulated.pre_contrast, broken)


def test_empty_given_brain_mask_is_refused(simulated):
    empty = sitk.Image(simulated.brain_mask) * 0
    with pytest.raises(ValueError, match="brain mask is empty"):
        preprocess_case(simulated.pre_contrast, simulated.low_dose, brain_mask=empty)
