"""Extraction over a dataset: failures named per case, worker processes, the cached file."""

from __future__ import annotations

import json
import shutil

import pytest

from gdr_toolkit.dataset.raw_layout import case_files
from gdr_toolkit.file_io import read_json
from gdr_toolkit.fingerprint import extraction
from gdr_toolkit.fingerprint.extraction import (
    FINGERPRINT_FILE_NAME,
    FingerprintExtractionError,
    extract_fingerprint,
    load_or_extract_fingerprint,
)


def _add_corrupt_case(dataset, source_case_id: str, broken_case_id: str) -> None:
    source = case_files(dataset, source_case_id, "Tr", ".nii.gz")
    broken = case_files(dataset, broken_case_id, "Tr", ".nii.gz")
    for name in ("low_dose", "standard_dose", "metadata"):
        if getattr(source, name).is_file():
            shutil.copy(getattr(source, name), getattr(broken, name))
    broken.pre_contrast.write_bytes(b"this is not a NIfTI file")


def test_broken_case_is_named_while_the_others_finish_in_two_workers(dataset_without_metadata, tmp_path):
    dataset = tmp_path / dataset_without_metadata.name
    shutil.copytree(dataset_without_metadata, dataset)
    _add_corrupt_case(dataset, "phantom_000", "phantom_broken")
    with pytest.raises(FingerprintExtractionError) as caught:
        extract_fingerprint(dataset, num_processes=2)
    error = caught.value
    assert list(error.failures) == ["phantom_broken"]
    assert "phantom_broken_0000.nii.gz" in error.failures["phantom_broken"]
    assert "phantom_broken" in str(error) and not error.workers_died
    assert [case.case_id for case in error.completed] == ["phantom_000"]


def test_worker_death_is_reported_with_a_hint():
    error = FingerprintExtractionError("Dataset001_X", {"a": "BrokenProcessPool: ..."}, workers_died=True)
    assert "fewer processes (-np)" in str(error)


def test_empty_dataset_is_refused(tmp_path, anisotropic_dataset):
    dataset = tmp_path / "Dataset103_Empty"
    dataset.mkdir()
    shutil.copy(anisotropic_dataset / "dataset.json", dataset / "dataset.json")
    with pytest.raises(FileNotFoundError, match="imagesTr"):
        extract_fingerprint(dataset, num_processes=1)


def test_fingerprint_is_cached_and_clean_recomputes(
    anisotropic_dataset, anisotropic_fingerprint, tmp_path, monkeypatch
):
    calls: list[str] = []

    def fake_extract(dataset_folder, num_processes=2, progress=False, registration_folder=None):
        calls.append(str(dataset_folder))
        assert registration_folder == target / "registrations"  # stored for the preprocessor to reuse
        return anisotropic_fingerprint

    monkeypatch.setattr(extraction, "extract_fingerprint", fake_extract)
    target = tmp_path / anisotropic_dataset.name
    first = load_or_extract_fingerprint(anisotropic_dataset, target, num_processes=1)
    assert first == anisotropic_fingerprint and len(calls) == 1
    assert read_json(target / FINGERPRINT_FILE_NAME)["dataset_name"] == anisotropic_dataset.name
    second = load_or_extract_fingerprint(anisotropic_dataset, target, num_processes=1)
    assert second == anisotropic_fingerprint and len(calls) == 1  # read from the file
    load_or_extract_fingerprint(anisotropic_dataset, target, num_processes=1, clean=True)
    assert len(calls) == 2


def test_cache_with_other_cases_is_recomputed(
    anisotropic_dataset, anisotropic_fingerprint, tmp_path, monkeypatch
):
    calls: list[str] = []
    monkeypatch.setattr(
        extraction,
        "extract_fingerprint",
        lambda *args, **kwargs: calls.append("x") or anisotropic_fingerprint,
    )
    target = tmp_path / anisotropic_dataset.name
    load_or_extract_fingerprint(anisotropic_dataset, target, num_processes=1)
    record = read_json(target / FINGERPRINT_FILE_NAME)
    record["cases"] = record["cases"][:2]
    (target / FINGERPRINT_FILE_NAME).write_text(json.dumps(record))
    load_or_extract_fingerprint(anisotropic_dataset, target, num_processes=1)
    assert len(calls) == 2
