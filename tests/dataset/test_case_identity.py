"""One patient, study and frame of reference per case (gdr_toolkit/dataset/case_identity.py), on
real-sized scanner-like series for the mixed-up patient and small ones for the variants."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mr_series_builder import Patient, head_volume, other_patient, write_mr_series  # noqa: E402

from gdr_toolkit.dataset.case_identity import (  # noqa: E402
    CaseIdentityError,
    SeriesIdentity,
    case_identity_mismatches,
    check_case_identity,
    identity_differences,
    read_series_identity,
)

PC = Patient(name="Müller^Jürgen", charset="ISO_IR 100")


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Real-sized PC and LD of one patient, an LD of another patient, and a NIfTI stand-in."""
    root = tmp_path_factory.mktemp("identity")
    volume = head_volume()
    write_mr_series(root / "case_0000", volume, patient=PC)
    write_mr_series(
        root / "case_0001", volume, patient=replace(PC, charset="ISO_IR 192"), description="T1_LD"
    )
    write_mr_series(root / "other_0001", volume, patient=other_patient(PC), description="T1_LD")
    (root / "case_0001.nii.gz").write_bytes(b"stand-in: not read")
    return root


def test_series_identity_is_read_and_decoded(series):
    identity = read_series_identity(series / "case_0000")
    assert identity == SeriesIdentity("PAT-0042", "Müller^Jürgen", "19700101", PC.study_uid, PC.frame_uid)
    assert read_series_identity(series / "case_0001.nii.gz") is None


def test_same_patient_in_two_character_sets_is_consistent(series):
    assert check_case_identity("case", {"PC": series / "case_0000", "LD": series / "case_0001"}) == {}


def test_low_dose_of_another_patient_is_refused_naming_both_values(series):
    with pytest.raises(CaseIdentityError) as error:
        check_case_identity("case", {"PC": series / "case_0000", "LD": series / "other_0001"})
    message = str(error.value)
    assert message.startswith(
        "LD (other_0001) differs from PC (case_0000): PatientID 'PAT-0777' vs 'PAT-0042'"
    )
    assert "PatientName 'ROE^RICHARD' vs 'Müller^Jürgen'" in message and "StudyInstanceUID" in message
    assert "(rule: one patient, study and frame of reference per case)" in message and "\n" not in message


def test_override_accepts_the_mismatch_and_logs_it(series, caplog):
    with caplog.at_level(logging.WARNING, logger="gdr_toolkit.dataset.case_identity"):
        mismatches = check_case_identity(
            "case", {"PC": series / "case_0000", "LD": series / "other_0001"}, allow_mismatch=True
        )
    assert set(mismatches) == {"LD"}
    assert "case case: LD (other_0001) differs" in caplog.text and "--allow_mismatched_patient" in caplog.text


def test_a_nifti_channel_is_not_compared(series):
    assert case_identity_mismatches({"PC": series / "case_0000", "LD": series / "case_0001.nii.gz"}) == {}
    assert case_identity_mismatches({"PC": series / "case_0001.nii.gz", "LD": series / "other_0001"}) == {}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"name": "MUELLER^JUERGEN"}, "PatientName"),  # same ID, another name: a mistyped or reused ID
        ({"birth_date": "19700102"}, "PatientBirthDate"),
        ({"study_uid": "1.2.826.0.1.3680043.8.498.9"}, "StudyInstanceUID"),
        ({"frame_uid": "1.2.826.0.1.3680043.8.498.9"}, "FrameOfReferenceUID"),
    ],
)
def test_each_cross_checked_attribute_refuses_the_case(tmp_path, series, change, named):
    write_mr_series(tmp_path / "sd", head_volume((3, 256, 256)), patient=replace(PC, **change))
    with pytest.raises(CaseIdentityError, match=rf"SD \(sd\) differs from PC \(case_0000\): {named} "):
        check_case_identity(
            "case", {"PC": series / "case_0000", "LD": series / "case_0001", "SD": tmp_path / "sd"}
        )


def test_names_compare_without_case_and_empty_trailing_components():
    reference = SeriesIdentity("P1", "Doe^Jane", "19700101", "1.2", "1.3")
    assert identity_differences(reference, replace(reference, patient_name="DOE^JANE^^^")) == []
    assert identity_differences(reference, replace(reference, birth_date="")) == []  # blanked: not compared
    assert identity_differences(reference, replace(reference, patient_id="P2")) == ["PatientID 'P2' vs 'P1'"]
