"""Folder evaluation: summary structure, baselines, alignment, inf handling and geometry errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from evaluation_data import SD_GAIN, write

from gdr_toolkit.evaluation import FolderEvaluationOptions, evaluate_predictions
from gdr_toolkit.evaluation.summary import CASE_METRICS, LESION_METRICS
from gdr_toolkit.file_io import write_json_atomic


def _evaluate(folders: dict[str, Path], **option_values: object):
    return evaluate_predictions(
        folders["targets"],
        folders["pred"],
        pre_contrast_folder=folders["images"],
        lesion_folder=folders["lesions"],
        brain_mask_folder=folders["brain"],
        suffix=("_sd", "_sdplus"),
        options=FolderEvaluationOptions(**option_values),
    )


def test_summary_json_holds_cases_lesions_aggregates_and_definitions(evaluation_folders, tmp_path) -> None:
    summary = _evaluate(evaluation_folders, include_low_dose=True)
    path = tmp_path / "summary.json"
    write_json_atomic(summary.to_json_dict(), path)
    record = json.loads(path.read_text())
    assert set(record["methods"]) == {"sd", "sdplus", "low_dose"}
    assert set(record["cases"]) == {"case_a", "case_b", "case_c"}
    case = record["methods"]["sd"]["cases"]["case_a"]
    assert set(CASE_METRICS) <= set(case) and set(case["lesions"]) == {"1", "2"}
    assert set(case["lesions"]["1"]) == {"voxels", *LESION_METRICS, "cnr"}
    low_dose = record["methods"]["low_dose"]["cases"]["case_a"]["lesions"]["1"]
    assert case["lesions"]["1"]["cnr"] > 3 and case["lesions"]["1"]["cnr"] == low_dose["cnr"]
    aggregate = record["methods"]["sd"]["aggregate"]
    assert aggregate["psnr_b"]["n"] == 3 and aggregate["psnr_l"]["n"] == 6
    assert set(record["definitions"]) >= {"psnr_i", "psnr_b", "psnr_l", "ssim", "mae_ce", "c_bar", "c_hat"}
    assert record["parameters"]["ssim_sigma"] == 1.5 and record["parameters"]["brain_mask_source"] == "folder"


def test_reference_gain_is_removed_and_enhancement_ratios_follow_the_phantom(evaluation_folders) -> None:
    summary = _evaluate(evaluation_folders, include_low_dose=True)
    assert summary.cases["case_a"].reference_alignment == pytest.approx(1 / SD_GAIN, rel=0.01)
    c_hat = summary.aggregates("sd")["c_hat"]["mean"]
    assert 0.7 < c_hat < 0.9  # the prediction adds 80 % of the enhancement
    assert summary.aggregates("low_dose")["c_bar"]["mean"] == pytest.approx(0.3, abs=0.08)
    assert summary.aggregates("sdplus")["c_bar"]["mean"] == pytest.approx(1.3, abs=0.1)
    assert summary.aggregates("sd")["psnr_l"]["mean"] > summary.aggregates("low_dose")["psnr_l"]["mean"]


def test_identical_prediction_gives_inf_psnr_written_as_null(evaluation_folders, tmp_path) -> None:
    pred = tmp_path / "exact"
    reference = sitk.ReadImage(str(evaluation_folders["targets"] / "case_a.nii.gz"))
    pred.mkdir()
    sitk.WriteImage(reference, str(pred / "case_a_sd.nii.gz"))
    summary = evaluate_predictions(
        evaluation_folders["targets"], pred, brain_mask_folder=evaluation_folders["brain"]
    )
    assert math.isinf(summary.methods["sd"]["case_a"].psnr_i)
    record = summary.to_json_dict()
    assert record["methods"]["sd"]["cases"]["case_a"]["psnr_i"] is None
    assert record["methods"]["sd"]["aggregate"]["psnr_i"] == {
        "mean": None,
        "std": None,
        "n": 0,
        "n_excluded": 1,
    }
    assert record["methods"]["sd"]["cases"]["case_a"]["mae_ce"] is None  # no x_PC: no CE mask
    assert record["not_predicted"] == ["case_b", "case_c"]
    json.dumps(record, allow_nan=False)


def test_geometry_mismatch_names_both_files(evaluation_folders) -> None:
    bad = evaluation_folders["pred"] / "case_b_sd.nii.gz"
    write(np.zeros((20, 22, 24), dtype=np.float32), bad, spacing=(1.0, 2.0, 2.0))
    with pytest.raises(ValueError, match="case_b_sd.nii.gz.*case_b.nii.gz.*spacing"):
        _evaluate(evaluation_folders)


def test_missing_reference_is_named(evaluation_folders) -> None:
    (evaluation_folders["targets"] / "case_c.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case_c.nii.gz"):
        _evaluate(evaluation_folders)


def test_suffix_without_any_file_is_left_out(evaluation_folders) -> None:
    for path in evaluation_folders["pred"].glob("*_sdplus.nii.gz"):
        path.unlink()  # a direct-regression model writes no SD+
    summary = _evaluate(evaluation_folders, include_low_dose=True)
    assert set(summary.methods) == {"sd", "low_dose"}


def test_suffix_missing_for_one_case_is_an_error(evaluation_folders) -> None:
    (evaluation_folders["pred"] / "case_b_sdplus.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case_b_sdplus"):
        _evaluate(evaluation_folders)


def test_head_threshold_rule_derives_a_mask(evaluation_folders) -> None:
    summary = evaluate_predictions(
        evaluation_folders["targets"],
        evaluation_folders["pred"],
        pre_contrast_folder=evaluation_folders["images"],
        options=FolderEvaluationOptions(brain_mask_rule="head_threshold"),
    )
    assert summary.brain_mask_source == "head_threshold"
    assert summary.cases["case_a"].brain_voxels == 14 * 16 * 18


def _crop_case_a(folders: dict[str, Path]) -> np.ndarray:
    """Zero the top quarter of case_a's reference (its slab) and make the SD prediction exact elsewhere and
    PC in the top quarter (as the predictor writes it there); returns the valid mask."""
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(folders["targets"] / "case_a.nii.gz")))
    pre_contrast = sitk.GetArrayFromImage(sitk.ReadImage(str(folders["images"] / "case_a_0000.nii.gz")))
    valid = np.ones(reference.shape, np.uint8)
    valid[15:] = 0
    write(np.where(valid > 0, reference, 0.0).astype(np.float32), folders["targets"] / "case_a.nii.gz")
    prediction = np.where(valid > 0, reference / SD_GAIN, pre_contrast).astype(np.float32)
    write(prediction, folders["pred"] / "case_a_sd.nii.gz")
    return valid


def test_prediction_folder_valid_mask_excludes_the_missing_region(evaluation_folders) -> None:
    valid = _crop_case_a(evaluation_folders)
    without = _evaluate(evaluation_folders)
    write(valid, evaluation_folders["pred"] / "case_a_valid_mask.nii.gz")
    summary = _evaluate(evaluation_folders)
    result = summary.methods["sd"]["case_a"]
    assert result.psnr_b > without.methods["sd"]["case_a"].psnr_b + 15.0
    assert result.psnr_b > 40.0 and result.ssim > 0.99  # exact up to the estimated alignment 1 / SD_GAIN
    assert summary.cases["case_a"].valid_mask == "case_a_valid_mask.nii.gz"
    assert summary.cases["case_a"].excluded_brain_voxels > 0 and summary.cases["case_b"].valid_mask is None
    assert _evaluate(evaluation_folders, use_prediction_valid_masks=False).methods["sd"]["case_a"].psnr_b == (
        without.methods["sd"]["case_a"].psnr_b
    )


def test_valid_mask_folder_is_used_and_checked_for_its_grid(evaluation_folders, tmp_path) -> None:
    valid = _crop_case_a(evaluation_folders)
    write(valid, tmp_path / "valid" / "case_a.nii.gz")
    summary = evaluate_predictions(
        evaluation_folders["targets"], evaluation_folders["pred"], evaluation_folders["images"],
        brain_mask_folder=evaluation_folders["brain"], valid_mask_folder=tmp_path / "valid",
    )  # fmt: skip
    assert summary.methods["sd"]["case_a"].psnr_b > 40.0
    write(valid, tmp_path / "valid" / "case_a.nii.gz", spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="case_a.nii.gz"):
        evaluate_predictions(
            evaluation_folders["targets"], evaluation_folders["pred"], evaluation_folders["images"],
            brain_mask_folder=evaluation_folders["brain"], valid_mask_folder=tmp_path / "valid",
        )  # fmt: skip
