"""Predicting a folder: case discovery, metadata lookup, export files, resuming, broken cases."""

from __future__ import annotations

import json

import pytest
import SimpleITK as sitk
from inference_fixtures import write_test_cases

from gdr_toolkit.dataset.metadata import parse_case_metadata
from gdr_toolkit.inference.export import ExportOptions, output_paths
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.inference.prediction_run import RunOptions, find_cases, run_prediction
from gdr_toolkit.inference.predictor import Predictor


@pytest.fixture(scope="module")
def test_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    write_test_cases(root, ("good",))
    (root / "imagesTs" / "broken_0000.nii.gz").write_bytes(b"not an image")
    (root / "imagesTs" / "broken_0001.nii.gz").write_bytes(b"not an image")
    (root / "imagesTs" / "lonely_0000.nii.gz").write_bytes(
        (root / "imagesTs" / "good_0000.nii.gz").read_bytes()
    )
    return root


def test_metadata_is_looked_up_in_the_input_then_the_sibling_folder(test_folder, tmp_path):
    cases = {case.case_id: case for case in find_cases(test_folder / "imagesTs")}
    assert sorted(cases) == ["broken", "good", "lonely"]
    assert cases["good"].metadata_file == test_folder / "metadataTs" / "good.json"
    assert cases["broken"].metadata_file is None
    assert cases["lonely"].low_dose.name == "lonely_0001.nii.gz"
    (tmp_path / "good.json").write_text((test_folder / "metadataTs" / "good.json").read_text())
    given = {case.case_id: case for case in find_cases(test_folder / "imagesTs", tmp_path)}
    assert given["good"].metadata_file == tmp_path / "good.json"
    flags = parse_case_metadata(
        {"dose_fraction": 0.2, "field_strength_t": 3.0, "contrast_agent": "gadobutrol"}
    )
    assert find_cases(test_folder / "imagesTs", metadata=flags)[0].load_metadata() is flags


def test_broken_cases_are_reported_and_the_others_written(test_folder, two_fold_model_folder, tmp_path):
    predictor = Predictor(load_trained_model(two_fold_model_folder), step_size=1.0, use_mirroring=False)
    export = ExportOptions(save_contrast_signal=True, save_uncertainty=True)
    options = RunOptions(export, continue_prediction=True)
    done = []
    summary = run_prediction(find_cases(test_folder / "imagesTs"), predictor, tmp_path, options, done.append)
    assert summary.written == ("good",)
    assert sorted(summary.failures) == ["broken", "lonely"]
    assert "broken_0000.nii.gz" in summary.failures["broken"]
    assert "lonely_0001.nii.gz" in summary.failures["lonely"]
    assert sorted(done) == ["broken", "good", "lonely"]
    for path in output_paths(tmp_path, "good", export).values():
        assert path.is_file(), path
    reference = sitk.ReadImage(str(test_folder / "imagesTs" / "good_0000.nii.gz"))
    assert sitk.ReadImage(str(tmp_path / "good_uncertainty.nii.gz")).GetSize() == reference.GetSize()
    assert not list(tmp_path.glob(".tmp*"))

    again = run_prediction(find_cases(test_folder / "imagesTs"), predictor, tmp_path, options)
    assert again.skipped == ("good",) and again.written == ()


def test_cases_without_needed_metadata_fail_by_name(test_folder, two_fold_model_folder, tmp_path):
    (tmp_path / "in").mkdir()
    for channel in ("0000", "0001"):
        (tmp_path / "in" / f"anon_{channel}.nii.gz").write_bytes(
            (test_folder / "imagesTs" / f"good_{channel}.nii.gz").read_bytes()
        )
    predictor = Predictor(load_trained_model(two_fold_model_folder, folds=[0]))
    summary = run_prediction(find_cases(tmp_path / "in"), predictor, tmp_path / "out")
    assert "anon" in summary.failures and "dose_fraction" in summary.failures["anon"]
    assert json.dumps(summary.failures)  # plain strings


@pytest.mark.slow
def test_worker_processes_and_writer_threads_give_the_same_files(
    test_folder, two_fold_model_folder, tmp_path
):
    predictor = Predictor(
        load_trained_model(two_fold_model_folder, folds=[0]), step_size=1.0, use_mirroring=False
    )
    options = RunOptions(preprocessing_processes=2, export_threads=2)
    summary = run_prediction(find_cases(test_folder / "imagesTs"), predictor, tmp_path, options)
    assert summary.written == ("good",) and sorted(summary.failures) == ["broken", "lonely"]
    assert (tmp_path / "good_sd.nii.gz").is_file() and (tmp_path / "good_qc.png").is_file()
