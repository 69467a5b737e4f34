"""Predicting a folder: case discovery, metadata lookup, export files, resuming, broken cases."""

from __future__ import annotations

import json
import shutil
import subprocess

import pydicom
import pytest
import SimpleITK as sitk
from inference_fixtures import write_test_cases

from gdr_toolkit.dataset.metadata import parse_case_metadata
from gdr_toolkit.inference.export import ExportOptions, output_paths
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.inference.prediction_cases import find_cases
from gdr_toolkit.inference.prediction_run import RunOptions, run_prediction
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


def _dicom_case(folder, test_folder, ld_tags: dict) -> None:
    """The good case as DICOM series ``folder/dicom_000{0,1}/`` (no metadata JSON), ``ld_tags`` added to LD."""
    from gdr_toolkit.dataset.dicom_io import DerivedSeries, write_dicom_series
    from gdr_toolkit.dataset.image_io import read_image

    patient = {
        "0010|0020": "PID-3",
        "0020|000d": "1.2.826.0.1.3680043.99.3",
        "0020|0052": "1.2.826.0.1.3680043.99.4",
    }
    for channel in ("0000", "0001"):
        image = read_image(test_folder / "imagesTs" / f"good_{channel}.nii.gz")
        write_dicom_series(image, folder / f"dicom_{channel}", DerivedSeries(f"T1 {channel}", 5), patient)
    for path in (folder / "dicom_0001").glob("*.dcm"):
        dataset = pydicom.dcmread(path)
        for keyword, value in ld_tags.items():
            setattr(dataset, keyword, value)
        dataset.save_as(path)


def test_dicom_ld_headers_give_the_metadata_and_the_outputs_derive_from_pc(
    test_folder, two_fold_model_folder, tmp_path
):
    """No JSON: field strength, agent and dose come from LD's headers (dose = volume / (weight * 0.2 mL/kg)
    for gadoterate); the DICOM outputs pass dciodvfy and refer to PC's slices and LD's series."""
    from gdr_toolkit.dataset.agents import find_agent
    from gdr_toolkit.dataset.dicom_headers import read_series_headers
    from gdr_toolkit.inference.model_fingerprint import model_fingerprint

    truth = json.loads((test_folder / "metadataTs" / "good.json").read_text())
    weight_kg = 75.0
    volume_ml = (
        truth["dose_fraction"] * weight_kg * find_agent(truth["contrast_agent"]).standard_dose_ml_per_kg
    )
    tags = {"MagneticFieldStrength": truth["field_strength_t"], "ContrastBolusAgent": "DOTAREM 0.5 mmol/ml",
            "ContrastBolusVolume": f"{volume_ml:.10g}", "PatientWeight": weight_kg}  # fmt: skip
    _dicom_case(tmp_path / "in", test_folder, tags)
    model = load_trained_model(two_fold_model_folder, folds=[0])
    predictor = Predictor(model, step_size=1.0, use_mirroring=False)
    options = RunOptions(ExportOptions(save_qc_picture=False, output_format="dicom", dicom_series_offset=100))
    summary = run_prediction(find_cases(tmp_path / "in"), predictor, tmp_path / "out", options)
    assert summary.written == ("dicom",), summary.failures
    condition = json.loads((tmp_path / "out" / "dicom_summary.json").read_text())["condition"]
    assert condition["dose_fraction"] == pytest.approx(truth["dose_fraction"], rel=1e-6)
    assert condition["field_strength_t"] == truth["field_strength_t"]
    pc, ld = (
        read_series_headers(tmp_path / "in" / "dicom_0000"),
        read_series_headers(tmp_path / "in" / "dicom_0001"),
    )
    for kind, number in (("sd", 105), ("sdplus", 106), ("unsupported", 109)):
        written = read_series_headers(tmp_path / "out" / f"dicom_{kind}")
        assert {ds.SeriesNumber for ds in written} == {number}
        assert {ds.StudyInstanceUID for ds in written} == {pc[0].StudyInstanceUID}
        assert [ds.SourceImageSequence[0].ReferencedSOPInstanceUID for ds in written] == [
            ds.SOPInstanceUID for ds in pc
        ]
        assert ld[0].SeriesInstanceUID in {
            item.SeriesInstanceUID for item in written[0].ReferencedSeriesSequence
        }
        assert written[0].SoftwareVersions[1] == f"model {model_fingerprint(model)}"
        if shutil.which("dciodvfy"):
            result = subprocess.run(["dciodvfy", str(written[0].filename)], capture_output=True, text=True)
            assert "Error" not in result.stderr, result.stderr


def test_dicom_ld_without_metadata_headers_fails_naming_them(test_folder, two_fold_model_folder, tmp_path):
    _dicom_case(tmp_path / "in", test_folder, {"ContrastBolusAgent": "Dotarem"})
    predictor = Predictor(
        load_trained_model(two_fold_model_folder, folds=[0]), step_size=1.0, use_mirroring=False
    )
    summary = run_prediction(find_cases(tmp_path / "in"), predictor, tmp_path / "out")
    message = summary.failures["dicom"]
    assert "dose_fraction" in message and "--metadata" in message
    assert "lack MagneticFieldStrength, ContrastBolusVolume, PatientWeight" in message


def test_incomplete_headers_are_no_error_for_a_model_that_needs_no_metadata(test_folder, tmp_path):
    from gdr_toolkit.inference.prediction_run import _case_metadata

    class NeedsNoMetadata:
        def check_metadata(self, metadata, case_id) -> None:
            """Like Predictor.check_metadata for a model whose condition is sigma_LD only."""

    _dicom_case(tmp_path / "in", test_folder, {})
    (case,) = find_cases(tmp_path / "in")
    assert _case_metadata(case, NeedsNoMetadata()) is None  # type: ignore[arg-type]
