"""``verify_dataset`` / ``gdr_verify_dataset`` on a raw dataset of real-sized DICOM series: every series
rule and the case identity reported before preprocessing, each problem naming its series and rule."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mr_series_builder import Patient, head_volume, other_patient, write_mr_series  # noqa: E402

from gdr_toolkit.cli.verify_dataset import main  # noqa: E402
from gdr_toolkit.dataset.raw_layout import DatasetDescription, case_files, write_dataset_description  # noqa: E402
from gdr_toolkit.dataset.verify import verify_dataset  # noqa: E402

METADATA = {"field_strength_t": 3.0, "contrast_agent": "gadobutrol", "dose_fraction": 0.25}
CASES = ("good", "gap", "mixed", "cut")


def series_folder(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".nii.gz"))


def linked_copy(source: Path, target: Path) -> Path:
    """A copy of a series folder made of hard links (cheap); break files only by replacing them."""
    return Path(shutil.copytree(source, target, copy_function=os.link))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Four training cases of DICOM series: good; PC missing a slice; LD of another patient; SD truncated."""
    root = tmp_path_factory.mktemp("raw")
    volume = head_volume()
    write_mr_series(root / "pc", volume)
    write_mr_series(root / "other", volume, patient=other_patient(Patient()))
    folder = root / "Dataset005_DicomSeries"
    write_dataset_description(folder, DatasetDescription(name="DicomSeries", num_training=len(CASES)))
    for case_id in CASES:
        case = case_files(folder, case_id, "Tr", ".nii.gz")
        for path in (case.pre_contrast, case.low_dose, case.standard_dose):
            linked_copy(
                root / ("other" if (case_id, path) == ("mixed", case.low_dose) else "pc"), series_folder(path)
            )
        case.metadata.parent.mkdir(parents=True, exist_ok=True)
        case.metadata.write_text(json.dumps(METADATA))
    (series_folder(case_files(folder, "gap", "Tr", ".nii.gz").pre_contrast) / "IM0050.dcm").unlink()
    cut = series_folder(case_files(folder, "cut", "Tr", ".nii.gz").standard_dose) / "IM0020.dcm"
    data = cut.read_bytes()
    cut.unlink()  # a hard link: replace, never write through
    cut.write_bytes(data[:600])
    return folder


def test_each_broken_series_and_the_mixed_case_are_reported_by_name_and_rule(dataset):
    problems = {
        str(problem.path.relative_to(dataset)): problem.message for problem in verify_dataset(dataset)
    }
    assert set(problems) == {"imagesTr/gap_0000", "imagesTr/mixed_0001", "targetsTr/cut"}, problems
    assert "1 missing slice(s) between IM0049.dcm" in problems["imagesTr/gap_0000"]
    assert "rule: even spacing" in problems["imagesTr/gap_0000"]
    assert "PatientID 'PAT-0777' vs 'PAT-0042'" in problems["imagesTr/mixed_0001"]
    assert "rule: one patient, study and frame of reference per case" in problems["imagesTr/mixed_0001"]
    assert problems["targetsTr/cut"].startswith("IM0020.dcm: no pixel data (truncated")


def test_command_lists_one_line_per_problem_without_raw_exception_text(dataset, monkeypatch, capsys):
    monkeypatch.setenv("gdr_raw", str(dataset.parent))
    assert main(["-d", "5"]) == 1
    error = capsys.readouterr().err
    assert "3 problem(s) in 4 case(s) checked" in error
    problem_lines = [line for line in error.splitlines() if "(rule: " in line]
    assert len(problem_lines) == 3
    assert "Traceback" not in error and "Error:" not in error
