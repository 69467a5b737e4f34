"""Output composition with a valid-data mask: no contrast, SD = PC and SD+ = SD where LD has no data."""

from __future__ import annotations

import dataclasses

import numpy as np
import SimpleITK as sitk
from valid_mask_cases import cropped_case, valid_mask_without_top

from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.inference.output_composition import contrast_signal_arrays, standard_dose_arrays
from gdr_toolkit.inference.predictor import Predictor


def test_contrast_signal_outputs_have_no_hole_where_low_dose_lacks_data(preprocessed_identity_case):
    case = cropped_case(preprocessed_identity_case)
    valid = case.arrays["valid_mask"] > 0
    signal = np.random.default_rng(0).uniform(0.0, 0.5, valid.shape).astype(np.float32)
    arrays = contrast_signal_arrays(case, signal, signal / 10, 2.0, "cropped")
    x_pc, x_ld = case.arrays["x_pc"], case.arrays["x_ld"]
    np.testing.assert_array_equal(arrays["contrast_signal"][~valid], 0.0)
    np.testing.assert_array_equal(arrays["sd"][~valid], x_pc[~valid])
    np.testing.assert_array_equal(arrays["sdplus"][~valid], arrays["sd"][~valid])
    np.testing.assert_allclose(arrays["sdplus"][valid], (x_ld + 2.0 * signal)[valid], rtol=1e-6)
    np.testing.assert_allclose(arrays["sd"][valid], (x_pc + 2.0 * signal)[valid], rtol=1e-6)
    np.testing.assert_array_equal(arrays["uncertainty"][~valid], 0.0)


def test_without_a_valid_mask_the_composition_is_unchanged(preprocessed_identity_case):
    without_mask = {
        name: array for name, array in preprocessed_identity_case.arrays.items() if name != "valid_mask"
    }
    case = dataclasses.replace(
        preprocessed_identity_case, arrays=without_mask
    )  # data preprocessed before masks
    signal = np.full(case.arrays["x_pc"].shape, 0.25, np.float32)
    arrays = contrast_signal_arrays(case, signal, None, 1.0, "covered")
    np.testing.assert_array_equal(arrays["sdplus"], case.arrays["x_ld"] + signal)


def test_no_contrast_over_the_background_of_a_skull_stripped_scan(preprocessed_identity_case):
    """Issue 22: a skull-stripped PC (brain mask source "support") gets no signal outside its brain."""
    case = preprocessed_identity_case
    stripped = dataclasses.replace(
        case, properties=dataclasses.replace(case.properties, brain_mask_source="support")
    )
    brain = case.arrays["brain_mask"] > 0
    assert (~brain).any()
    signal = np.full(brain.shape, 0.25, np.float32)
    arrays = contrast_signal_arrays(stripped, signal, signal, 1.0, "stripped")
    np.testing.assert_array_equal(arrays["contrast_signal"][~brain], 0.0)
    np.testing.assert_array_equal(arrays["uncertainty"][~brain], 0.0)
    np.testing.assert_array_equal(arrays["sdplus"][~brain], case.arrays["x_pc"][~brain])
    valid = case.arrays["valid_mask"] > 0
    np.testing.assert_allclose(arrays["contrast_signal"][brain & valid], 0.25)
    atlas = contrast_signal_arrays(case, signal, None, 1.0, "atlas")  # a raw head: only LD's coverage
    np.testing.assert_allclose(atlas["contrast_signal"][~brain & valid], 0.25)


def test_standard_dose_model_keeps_pc_outside_the_valid_region(preprocessed_identity_case):
    case = cropped_case(preprocessed_identity_case)
    valid, x_pc = case.arrays["valid_mask"] > 0, case.arrays["x_pc"]
    prediction = np.where(valid, 1.5 * x_pc, 99.0).astype(np.float32)  # garbage where LD has no data
    arrays = standard_dose_arrays(case, prediction, None, 1.0, "cropped")
    np.testing.assert_array_equal(arrays["sd"][~valid], x_pc[~valid])
    np.testing.assert_allclose(arrays["sd"][valid], x_pc[valid], rtol=1e-3, atol=1e-4)  # a = 1 / 1.5


def test_predictor_writes_no_hole_and_reports_the_valid_mask(
    identity_case, preprocessed_identity_case, two_fold_model_folder
):
    pre_contrast = identity_case[0]
    case = cropped_case(preprocessed_identity_case)
    predictor = Predictor(load_trained_model(two_fold_model_folder), use_mirroring=False)
    prediction = predictor.predict_preprocessed(case, pre_contrast, "cropped")
    valid = valid_mask_without_top(case.arrays["x_pc"].shape) > 0
    np.testing.assert_array_equal(sitk.GetArrayFromImage(prediction.valid_mask), valid.astype(np.uint8))
    sd, sdplus = sitk.GetArrayFromImage(prediction.sd), sitk.GetArrayFromImage(prediction.sdplus)
    contrast = sitk.GetArrayFromImage(prediction.contrast_signal)
    raw_pc = sitk.GetArrayFromImage(pre_contrast).astype(np.float32)
    np.testing.assert_array_equal(sdplus[~valid], sd[~valid])
    np.testing.assert_allclose(sd[~valid], raw_pc[~valid], rtol=1e-5, atol=1e-3)
    assert not contrast[~valid].any() and contrast[valid].max() > 0
    scale = case.properties.intensity_scales["pre_contrast"]
    np.testing.assert_allclose(
        sdplus[valid], (case.arrays["x_ld"] * scale + contrast)[valid], rtol=1e-5, atol=1e-3
    )
    brain = case.arrays["brain_mask"] > 0
    outside = (brain & ~valid).sum() / brain.sum()
    assert prediction.quality is not None
    assert prediction.quality.brain_fraction_outside_low_dose_fov == outside
    assert f"{100 * outside:.1f} %" in prediction.quality.warnings[0]
