from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.dataset.raw_layout import DatasetDescription, case_files, write_dataset_description
from gdr_toolkit.dataset.verify import verify_dataset

METADATA = {"field_strength_t": 1.5, "contrast_agent": "dotarem", "dose_fraction": 0.25}


def _write(array: np.ndarray, path: Path, spacing=(2.0, 2.0, 2.0)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))


def make_tiny_dataset(folder: Path, num_cases: int = 3) -> Path:
    """A minimal valid raw dataset: 8^3 random images, one lesion map, metadata."""
    rng = np.random.default_rng(0)
    write_dataset_description(folder, DatasetDescription(name="Tiny", num_training=num_cases))
    for index in range(num_cases):
        case = case_files(folder, f"case_{index:03d}", "Tr", ".nii.gz")
        for path in (case.pre_contrast, case.low_dose, case.standard_dose):
            _write(rng.random((8, 8, 8), dtype=np.float32), path)
        _write(np.zeros((8, 8, 8), np.uint8), case.lesions)
        case.metadata.parent.mkdir(parents=True, exist_ok=True)
        case.metadata.write_text(json.dumps(METADATA))
    return folder


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_tiny_dataset(tmp_path / "Dataset001_Tiny")


def _only_problem(dataset: Path):
    problems = verify_dataset(dataset)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_valid_dataset_passes(dataset):
    assert verify_dataset(dataset) == []


def test_missing_channel_names_the_file(dataset):
    case = case_files(dataset, "case_001", "Tr", ".nii.gz")
    case.low_dose.unlink()
    problem = _only_problem(dataset)
    assert problem.path == case.low_dose and "missing" in problem.message


def test_corrupt_file_names_the_file(dataset):
    case = case_files(dataset, "case_002", "Tr", ".nii.gz")
    case.pre_contrast.write_bytes(b"\x1f\x8b garbage that is not an image")
    problem = _only_problem(dataset)
    assert problem.path == case.pre_contrast and "cannot be read" in problem.message


def test_truncated_file_names_the_file(dataset):
    case = case_files(dataset, "case_001", "Tr", ".nii.gz")
    data = case.low_dose.read_bytes()
    case.low_dose.write_bytes(data[: len(data) // 2])
    problem = _only_problem(dataset)
    assert problem.path == case.low_dose and "truncated" in problem.message


def test_empty_file_names_the_file(dataset):
    case = case_files(dataset, "case_001", "Tr", ".nii.gz")
    case.standard_dose.write_bytes(b"")
    problem = _only_problem(dataset)
    assert problem.path == case.standard_dose and "empty" in problem.message


def test_all_zero_image_is_reported_as_constant(dataset):
    case = case_files(dataset, "case_000", "Tr", ".nii.gz")
    _write(np.zeros((8, 8, 8), np.float32), case.pre_contrast)
    problem = _only_problem(dataset)
    assert problem.path == case.pre_contrast and "constant" in problem.message


def test_extra_channel_file_is_reported(dataset):
    extra = dataset / "imagesTr" / "case_000_0002.nii.gz"
    _write(np.random.default_rng(3).random((8, 8, 8), dtype=np.float32), extra)
    problem = _only_problem(dataset)
    assert problem.path == extra and "matches no channel" in problem.message


def test_stray_file_is_reported(dataset):
    (dataset / "imagesTr" / "notes.txt").write_text("scanner notes")
    problem = _only_problem(dataset)
    assert problem.path == dataset / "imagesTr" / "notes.txt" and "matches no channel" in problem.message


def test_dicom_series_folders_are_accepted_as_channels_and_target(dataset):
    from gdr_toolkit.dataset.dicom_io import DerivedSeries, write_dicom_series

    case = case_files(dataset, "case_002", "Tr", ".nii.gz")
    examination = {
        "0010|0020": "PID-2",
        "0020|000d": "1.2.826.0.1.3680043.99.2",
        "0020|0052": "1.2.826.0.1.3680043.99.3",
    }
    for path in (case.pre_contrast, case.standard_dose):
        image = sitk.ReadImage(str(path))
        path.unlink()
        write_dicom_series(
            image, path.with_name(path.name.removesuffix(".nii.gz")), DerivedSeries("T1"), examination
        )
    case = case_files(dataset, "case_002", "Tr", ".nii.gz")
    assert case.pre_contrast.is_dir() and case.standard_dose.is_dir()
    assert verify_dataset(dataset) == []


def test_nan_names_the_file(dataset):
    case = case_files(dataset, "case_000", "Tr", ".nii.gz")
    array = np.ones((8, 8, 8), np.float32)
    array[3, 3, 3] = np.nan
    _write(array, case.standard_dose)
    problem = _only_problem(dataset)
    assert problem.path == case.standard_dose and "NaN" in problem.message


@pytest.mark.parametrize(
    ("change", "text"),
    [({"dose_fraction": 1.7}, "dose_fraction"), ({"contrast_agent": "unobtainium"}, "Unknown")],
)
def test_bad_metadata_names_the_file(dataset, change, text):
    case = case_files(dataset, "case_001", "Tr", ".nii.gz")
    case.metadata.write_text(json.dumps({**METADATA, **change}))
    problem = _only_problem(dataset)
    assert problem.path == case.metadata and text in problem.message


def test_lesion_map_off_the_pre_contrast_grid_is_reported(dataset):
    case = case_files(dataset, "case_000", "Tr", ".nii.gz")
    _write(np.zeros((8, 8, 8), np.uint8), case.lesions, spacing=(1.0, 1.0, 1.0))
    problem = _only_problem(dataset)
    assert problem.path == case.lesions and "pre-contrast grid" in problem.message


def test_different_grids_for_pc_and_ld_are_legal(dataset):
    case = case_files(dataset, "case_000", "Tr", ".nii.gz")
    _write(np.arange(6 * 8 * 8, dtype=np.float32).reshape(6, 8, 8), case.low_dose, spacing=(2.0, 2.0, 3.0))
    assert verify_dataset(dataset) == []


def test_all_problems_are_reported_at_once(dataset):
    first = case_files(dataset, "case_000", "Tr", ".nii.gz")
    second = case_files(dataset, "case_002", "Tr", ".nii.gz")
    first.pre_contrast.unlink()
    second.metadata.unlink()
    assert {p.path for p in verify_dataset(dataset)} == {first.pre_contrast, second.metadata}


def test_test_split_needs_no_target(dataset):
    case = case_files(dataset, "case_100", "Ts", ".nii.gz")
    _write(np.random.default_rng(1).random((8, 8, 8), dtype=np.float32), case.pre_contrast)
    _write(np.random.default_rng(2).random((8, 8, 8), dtype=np.float32), case.low_dose)
    case.metadata.parent.mkdir(parents=True)
    case.metadata.write_text(json.dumps(METADATA))
    assert verify_dataset(dataset) == []


def test_num_training_mismatch_is_reported(dataset):
    write_dataset_description(dataset, DatasetDescription(name="Tiny", num_training=5))
    assert "numTraining" in _only_problem(dataset).message


def test_two_dimensional_image_is_rejected(dataset):
    case = case_files(dataset, "case_001", "Tr", ".nii.gz")
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((8, 8), np.float32)), str(case.pre_contrast))
    assert "3D" in _only_problem(dataset).message


def test_simulated_dataset_passes_and_each_breakage_is_named(tmp_path):
    from gdr_toolkit.simulation import SimulationSettings
    from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset

    folder = tmp_path / "Dataset001_Phantom"
    write_simulated_dataset(folder, SimulationSettings.tiny(), num_training=5, num_test=1, seed=2)
    assert verify_dataset(folder) == []
    cases = [case_files(folder, f"phantom_{index:03d}", "Tr", ".nii.gz") for index in range(5)]
    cases[0].low_dose.unlink()
    cases[1].pre_contrast.write_bytes(b"corrupt")
    nan_image = sitk.ReadImage(str(cases[2].standard_dose))
    nan_image[2, 2, 2] = float("nan")
    sitk.WriteImage(nan_image, str(cases[2].standard_dose))
    for case, change in ((cases[3], {"dose_fraction": 1.7}), (cases[4], {"contrast_agent": "gadoxyz"})):
        record = json.loads(case.metadata.read_text())
        case.metadata.write_text(json.dumps({**record, **change}))
    found = {problem.path: problem.message for problem in verify_dataset(folder)}
    assert set(found) == {
        cases[0].low_dose,
        cases[1].pre_contrast,
        cases[2].standard_dose,
        cases[3].metadata,
        cases[4].metadata,
    }
    assert "NaN" in found[cases[2].standard_dose]
    assert "dose_fraction" in found[cases[3].metadata]
