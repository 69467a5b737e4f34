"""The predictor's data check: LD coverage warning, registration flag, CASE_summary.json, valid mask file."""

from __future__ import annotations

import json
import logging

import numpy as np
import SimpleITK as sitk
from inference_fixtures import write_test_cases
from valid_mask_cases import cropped_case

from gdr_toolkit.inference.case_quality import assess_case, brain_fraction_outside, write_valid_mask
from gdr_toolkit.inference.export import ExportOptions, write_prediction
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.inference.prediction_cases import find_cases
from gdr_toolkit.inference.prediction_run import RunOptions, run_prediction
from gdr_toolkit.inference.predictor import Predictor

REJECTED = {"low_dose": {"fov_overlap": 0.41, "similarity": 0.12, "accepted": False}}


def test_warning_names_the_case_and_the_fraction_outside(preprocessed_identity_case, caplog):
    case = cropped_case(preprocessed_identity_case)
    brain, valid = case.arrays["brain_mask"] > 0, case.arrays["valid_mask"] > 0
    expected = (brain & ~valid).sum() / brain.sum()
    assert expected > 0.01
    with caplog.at_level(logging.WARNING, logger="gdr_toolkit.inference.case_quality"):
        quality = assess_case(case, "CASE_17")
    assert quality.brain_fraction_outside_low_dose_fov == expected and not quality.flagged
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.WARNING
    message = caplog.records[0].getMessage()
    assert "CASE_17" in message and f"{100 * expected:.1f} %" in message


def test_stored_coverage_is_preferred_and_small_losses_pass(preprocessed_identity_case, caplog):
    case = cropped_case(preprocessed_identity_case, coverage={"low_dose": 0.995})
    assert brain_fraction_outside(case) == 1.0 - 0.995
    with caplog.at_level(logging.WARNING):
        assert assess_case(case, "nearly_covered").warnings == ()
    assert not caplog.records
    assert brain_fraction_outside(preprocessed_identity_case) == 0.0  # preprocessing's coverage: 1.0


def test_rejected_registration_is_flagged_with_its_measures(preprocessed_identity_case, caplog):
    case = cropped_case(preprocessed_identity_case, coverage={"low_dose": 1.0}, registration_quality=REJECTED)
    with caplog.at_level(logging.WARNING):
        quality = assess_case(case, "misregistered")
    assert quality.flagged and len(quality.warnings) == 1
    message = caplog.records[0].getMessage()
    assert "misregistered" in message and "low_dose" in message
    assert "fov_overlap 0.410" in message and "similarity 0.120" in message


def test_valid_mask_file_is_written_with_pc_geometry(preprocessed_identity_case, tmp_path):
    case = cropped_case(preprocessed_identity_case, registration_quality=REJECTED)
    mask = sitk.GetImageFromArray(case.arrays["valid_mask"])
    mask.SetSpacing((2.0, 3.0, 4.0))
    assert write_valid_mask("c1", mask, tmp_path) == tmp_path / "c1_valid_mask.nii.gz"
    stored = sitk.ReadImage(str(tmp_path / "c1_valid_mask.nii.gz"))
    assert stored.GetPixelID() == sitk.sitkUInt8 and stored.GetSpacing() == (2.0, 3.0, 4.0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(stored), case.arrays["valid_mask"])
    record = assess_case(case, "c1").to_json_dict()
    assert record["flagged"] is True
    assert record["registration_quality"] == REJECTED and len(record["warnings"]) == 2
    assert write_valid_mask("c1", sitk.GetImageFromArray(np.ones((2, 2, 2), np.uint8)), tmp_path) is None
    assert not (tmp_path / "c1_valid_mask.nii.gz").exists()  # covered everywhere: no (stale) mask file


class CroppingPredictor(Predictor):
    """Predicts as if preprocessing had found LD missing the top quarter and a rejected registration."""

    def preprocess(self, pre_contrast, low_dose, metadata):
        case = super().preprocess(pre_contrast, low_dose, metadata)
        return cropped_case(case, fill_low_dose=None, registration_quality=REJECTED)


def test_flagged_case_is_still_written_and_listed_in_the_summary(two_fold_model_folder, tmp_path):
    write_test_cases(tmp_path / "data", ("flagme",))
    predictor = CroppingPredictor(
        load_trained_model(two_fold_model_folder), step_size=1.0, use_mirroring=False
    )
    export = ExportOptions(save_qc_picture=False)
    summary = run_prediction(
        find_cases(tmp_path / "data" / "imagesTs"), predictor, tmp_path / "out", RunOptions(export)
    )
    assert summary.written == ("flagme",) and summary.flagged == ("flagme",)
    assert len(summary.warnings["flagme"]) == 2
    assert (tmp_path / "out" / "flagme_sdplus.nii.gz").is_file()
    assert (tmp_path / "out" / "flagme_valid_mask.nii.gz").is_file()
    assert json.loads((tmp_path / "out" / "flagme_summary.json").read_text())["flagged"] is True


def test_export_writes_the_report_beside_the_images(
    identity_case, preprocessed_identity_case, two_fold_model_folder, tmp_path
):
    predictor = Predictor(load_trained_model(two_fold_model_folder, folds=[0]), use_mirroring=False)
    prediction = predictor.predict_preprocessed(preprocessed_identity_case, identity_case[0], "plain")
    written = write_prediction(prediction, tmp_path, ExportOptions(save_qc_picture=False))
    assert tmp_path / "plain_summary.json" in written
    record = json.loads((tmp_path / "plain_summary.json").read_text())
    assert record["warnings"] == [] and record["brain_fraction_outside_low_dose_fov"] == 0.0
