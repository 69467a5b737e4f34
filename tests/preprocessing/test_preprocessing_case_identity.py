"""Preprocessing refuses a raw case whose DICOM series belong to different patients (dataset/case_identity.py),
before reading or registering anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "dataset"))
from mr_series_builder import Patient, head_volume, other_patient, write_mr_series  # noqa: E402

from gdr_toolkit.dataset.case_identity import CaseIdentityError  # noqa: E402
from gdr_toolkit.dataset.raw_layout import case_files  # noqa: E402
from gdr_toolkit.preprocessing.preprocessor import preprocess_and_store_case  # noqa: E402


def test_standard_dose_of_another_patient_refuses_the_case_by_name(tmp_path):
    volume = head_volume((3, 256, 256))
    for name, patient in (("case_0000", Patient()), ("case_0001", Patient()), ("case", other_patient())):
        folder = tmp_path / ("targetsTr" if name == "case" else "imagesTr") / name
        write_mr_series(folder, volume, patient=patient)
    case = case_files(tmp_path, "case", "Tr", ".nii.gz")
    assert case.standard_dose.is_dir()
    with pytest.raises(
        CaseIdentityError, match=r"SD \(case\) differs from PC \(case_0000\): PatientID 'PAT-0777'"
    ):
        preprocess_and_store_case(case, None, tmp_path / "out")  # type: ignore[arg-type]  # refused before use
    assert not (tmp_path / "out").exists()
