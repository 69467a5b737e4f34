"""``gdr_predict`` on DICOM input as scanners and PACS export it: each faulty case refused with one line
naming the case, the file or positions and the rule; the good case beside them predicted."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pydicom
import pytest

TESTS = Path(__file__).parents[1]
sys.path.insert(0, str(TESTS / "inference"))  # the tiny model and simulated case
sys.path.insert(0, str(TESTS / "dataset"))  # the scanner-like series
from inference_fixtures import DATASET, tiny_plans, write_model_folder, write_test_cases  # noqa: E402
from mr_series_builder import Patient, head_volume, other_patient, write_mr_series  # noqa: E402

from gdr_toolkit.cli.predict import main_from_modelfolder  # noqa: E402

METADATA_FLAGS = ["--dose", "0.2", "--field-strength", "3", "--agent", "gadobutrol"]
FAULTS = {  # case -> what its line must say
    "gap": (
        "gap_0000: slice positions not evenly spaced",
        "1 missing slice(s) between IM0055.dcm",
        "even spacing",
    ),
    "cut": ("cut_0001/IM0031.dcm: no pixel data", "every file readable"),
    "twin": ("duplicate slice position(s)", "IM0040.dcm and IM0041.dcm", "positions unique"),
    "ct": ("Modality CT", "modality MR"),
    "mixed": (
        "LD (mixed_0001) differs from PC (mixed_0000): PatientID 'PAT-0777' vs 'PAT-0042'",
        "one patient",
    ),
    "two": ("holds 2 DICOM series", "one series"),
}


def replace_file(path: Path, **values: object) -> None:
    """Set data elements of a file that may be a hard link: a new file replaces it."""
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    path.unlink()
    ds.save_as(path)


def link_series(source: Path, target: Path) -> Path:
    return Path(shutil.copytree(source, target, copy_function=os.link))


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory):
    """A model, and an input folder with the good NIfTI case_a beside six faulty real-sized DICOM cases."""
    root = tmp_path_factory.mktemp("predict_dicom")
    model = write_model_folder(root / "results" / DATASET, tiny_plans(5.0), folds=(0,))
    write_test_cases(root / "raw", ("case_a",))
    inputs = Path(shutil.copytree(root / "raw" / "imagesTs", root / "in"))
    volume = head_volume()
    write_mr_series(root / "pc", volume)
    write_mr_series(root / "ld", volume, description="T1_MPRAGE_LOW_DOSE")
    write_mr_series(
        root / "other_ld", volume, patient=other_patient(Patient()), description="T1_MPRAGE_LOW_DOSE"
    )
    for case_id in FAULTS:
        link_series(root / "pc", inputs / f"{case_id}_0000")
        link_series(root / ("other_ld" if case_id == "mixed" else "ld"), inputs / f"{case_id}_0001")
    (inputs / "gap_0000" / "IM0056.dcm").unlink()
    truncated = inputs / "cut_0001" / "IM0031.dcm"
    data = truncated.read_bytes()
    truncated.unlink()
    truncated.write_bytes(data[:600])
    replace_file(
        inputs / "twin_0000" / "IM0041.dcm",
        ImagePositionPatient=pydicom.dcmread(root / "pc" / "IM0040.dcm").ImagePositionPatient,
    )
    for path in (inputs / "ct_0000").iterdir():
        replace_file(path, Modality="CT")
    for path in (root / "other_ld").iterdir():
        os.link(path, inputs / "two_0000" / f"X_{path.name}")
    return root, model, inputs


def test_faulty_dicom_cases_are_refused_one_line_each_and_the_good_case_is_predicted(run_folders, capsys):
    root, model, inputs = run_folders
    output = root / "out"
    arguments = ["-m", str(model), "-i", str(inputs), "-o", str(output), "--disable_tta", "-step_size", "1"]
    assert main_from_modelfolder([*arguments, *METADATA_FLAGS]) == 1
    error = capsys.readouterr().err
    assert "1 case(s) written, 0 skipped, 6 failed" in error
    assert (output / "case_a_sd.nii.gz").is_file()
    lines = {line.split(":")[0].strip(): line for line in error.splitlines() if line.startswith("  ")}
    assert set(lines) == set(FAULTS), error
    for case_id, phrases in FAULTS.items():
        assert all(phrase in lines[case_id] for phrase in phrases[:-1]), lines[case_id]
        assert f"(rule: {phrases[-1]}" in lines[case_id], lines[case_id]
    for raw in ("Traceback", "TypeError", "DicomSeriesError", "CaseIdentityError", "RuntimeError"):
        assert raw not in error
    assert not any((output / f"{case_id}_sd.nii.gz").exists() for case_id in FAULTS)


def test_allow_mismatched_patient_lets_the_case_past_the_identity_rule_and_is_logged(
    run_folders, tmp_path, capsys
):
    """Cheap form (the case then stops at its truncated LD); predicted end to end in the slow test below."""
    root, model, inputs = run_folders
    mixed = tmp_path / "in"
    link_series(inputs / "mixed_0000", mixed / "mixed_0000")
    link_series(inputs / "mixed_0001", mixed / "mixed_0001")  # LD of another patient ...
    truncated = mixed / "mixed_0001" / "IM0031.dcm"
    data = truncated.read_bytes()
    truncated.unlink()
    truncated.write_bytes(data[:600])  # ... with a truncated file
    arguments = ["-m", str(model), "-i", str(mixed), "-o", str(tmp_path / "out"), *METADATA_FLAGS]
    assert main_from_modelfolder(arguments) == 1
    error = capsys.readouterr().err
    assert "PatientID 'PAT-0777'" in error and "IM0031.dcm" not in error
    assert main_from_modelfolder([*arguments, "--allow_mismatched_patient"]) == 1
    error = capsys.readouterr().err
    assert "--allow_mismatched_patient" in error and "mixed_0001/IM0031.dcm: no pixel data" in error


@pytest.mark.slow
def test_latin1_and_utf8_names_and_an_allowed_mismatch_are_predicted(run_folders, tmp_path, capsys):
    """(~2-4 min on CPU: two cases registered and predicted) The simulated case as DICOM: PC and LD with a
    Latin-1 name (the opaque TypeError of before), and a case whose LD is of another patient, in UTF-8,
    predicted with --allow_mismatched_patient."""
    from gdr_toolkit.dataset.dicom_io import DerivedSeries, write_dicom_series
    from gdr_toolkit.dataset.image_io import read_image

    root, model, _ = run_folders
    inputs = tmp_path / "in"
    examination = {
        "0010|0020": "PAT-1",
        "0020|000d": "1.2.826.0.1.3680043.99.5",
        "0020|0052": "1.2.826.0.1.3680043.99.6",
    }
    names = {
        ("latin", "0000"): ("ISO_IR 100", "Müller^Jürgen", "PAT-1"), ("latin", "0001"): ("ISO_IR 100", "Müller^Jürgen", "PAT-1"),
        ("utf", "0000"): ("ISO_IR 192", "Ōta^Zoë", "PAT-1"), ("utf", "0001"): ("ISO_IR 192", "Ōta^Zoë", "PAT-2"),
    }  # fmt: skip
    for (case_id, channel), (charset, name, patient_id) in names.items():
        image = read_image(root / "raw" / "imagesTs" / f"case_a_{channel}.nii.gz")
        folder = inputs / f"{case_id}_{channel}"
        write_dicom_series(image, folder, DerivedSeries(f"T1 {channel}"), examination)
        for path in folder.iterdir():
            replace_file(path, SpecificCharacterSet=charset, PatientName=name, PatientID=patient_id)
    output = tmp_path / "out"
    arguments = ["-m", str(model), "-i", str(inputs), "-o", str(output), "--disable_tta", *METADATA_FLAGS]
    assert main_from_modelfolder([*arguments, "--allow_mismatched_patient"]) == 0
    assert (output / "latin_sd.nii.gz").is_file() and (output / "utf_sd.nii.gz").is_file()
    error = capsys.readouterr().err
    assert "case utf: LD (utf_0001) differs from PC (utf_0000): PatientID 'PAT-2' vs 'PAT-1'" in error
