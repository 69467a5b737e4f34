"""Register once: the fingerprint stores each case's registrations and preprocessing reuses them."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.dataset.raw_layout import list_cases
from gdr_toolkit.fingerprint import fingerprint_case
from gdr_toolkit.planning.plans import ConfigurationPlan
from gdr_toolkit.preprocessing import brain_mask, case_storage, coregistration
from gdr_toolkit.preprocessing.brain_mask import BrainMaskOptions
from gdr_toolkit.preprocessing.coregistration import CoregistrationOptions
from gdr_toolkit.preprocessing.preprocessor import preprocess_and_store_case
from gdr_toolkit.preprocessing.registration import RegistrationResult
from gdr_toolkit.preprocessing.registration_cache import (
    REGISTRATION_FOLDER,
    cached_registration_arguments,
    load_registrations,
)
from gdr_toolkit.simulation import SimulationSettings, write_simulated_dataset

CONFIGURATION = ConfigurationPlan(
    data_identifier="gdrPlans_3mm",
    spacing_mm=3.0,
    patch_size=(16, 16, 16),
    batch_size=2,
    network={},
    condition_keys=("noise_sigma_ld",),
    noise_normalisation=True,
    local_noise_kernel_mm=8.0,
    target_device="cpu",
    memory_budget_bytes=0,
    estimated_memory_bytes=0,
    median_image_shape=(32, 32, 32),
)
OPTIONS = (BrainMaskOptions(), CoregistrationOptions())


@pytest.fixture(scope="module")
def fingerprinted(tmp_path_factory) -> tuple[Path, Path]:
    """(raw dataset folder, preprocessed dataset folder holding the fingerprint's registrations)."""
    raw = tmp_path_factory.mktemp("raw") / "Dataset103_Reuse"
    write_simulated_dataset(raw, SimulationSettings.tiny(), num_training=1, num_test=0, seed=11)
    preprocessed = tmp_path_factory.mktemp("preprocessed") / raw.name
    fingerprint_case(list_cases(raw, "Tr")[0], registration_folder=preprocessed / REGISTRATION_FOLDER)
    return raw, preprocessed


@pytest.fixture()
def registration_spy(monkeypatch) -> list[str]:
    """Counts every elastix registration run by the brain mask and the co-registration."""
    calls: list[str] = []
    for module in (brain_mask, coregistration):
        original = module.register

        def spy(*args, _original=original, _name=module.__name__, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, "register", spy)
    return calls


def test_the_fingerprint_stores_every_registration(fingerprinted):
    raw, preprocessed = fingerprinted
    case = list_cases(raw, "Tr")[0]
    record = json.loads((preprocessed / REGISTRATION_FOLDER / f"{case.case_id}.json").read_text())
    assert set(record["registrations"]) == {"atlas", "low_dose", "standard_dose"}
    assert set(record["inputs"]) == {"pre_contrast", "low_dose", "standard_dose"}
    assert (preprocessed / REGISTRATION_FOLDER / record["brain_mask_file"]).is_file()


def test_preprocessing_after_the_fingerprint_registers_nothing_and_matches_a_fresh_run(
    fingerprinted, registration_spy, tmp_path
):
    raw, preprocessed = fingerprinted
    case = list_cases(raw, "Tr")[0]
    reused_folder = preprocessed / CONFIGURATION.data_identifier
    reused = preprocess_and_store_case(case, CONFIGURATION, reused_folder)
    assert registration_spy == []
    fresh_folder = tmp_path / raw.name / CONFIGURATION.data_identifier  # no registrations beside it
    fresh = preprocess_and_store_case(case, CONFIGURATION, fresh_folder)
    assert len(registration_spy) == 4  # atlas (2 cascades) + LD + SD
    assert reused["transforms"].keys() == fresh["transforms"].keys()
    assert reused["shape_zyx"] == fresh["shape_zyx"]
    reused_arrays = case_storage.open_case_arrays(reused_folder, case.case_id)[...]
    fresh_arrays = case_storage.open_case_arrays(fresh_folder, case.case_id)[...]
    np.testing.assert_allclose(reused_arrays, fresh_arrays, atol=1e-3)
    assert reused["noise_sigma_ld"] == pytest.approx(fresh["noise_sigma_ld"], rel=1e-3)


def test_a_changed_raw_file_is_registered_again(fingerprinted, tmp_path):
    raw, preprocessed = fingerprinted
    case = list_cases(raw, "Tr")[0]
    folder = preprocessed / REGISTRATION_FOLDER
    assert load_registrations(folder, case, *OPTIONS) is not None
    low_dose = sitk.ReadImage(str(case.low_dose))
    backup = tmp_path / case.low_dose.name
    sitk.WriteImage(low_dose, str(backup))
    changed = sitk.GetArrayFromImage(low_dose)
    changed[0, 0, 0] += 1
    edited = sitk.GetImageFromArray(changed)
    edited.CopyInformation(low_dose)
    try:
        sitk.WriteImage(edited, str(case.low_dose))
        assert load_registrations(folder, case, *OPTIONS) is None
        assert cached_registration_arguments(preprocessed, case, *OPTIONS) == {}
    finally:
        os.replace(backup, case.low_dose)


def test_a_touched_file_is_still_reused_but_other_options_are_not(fingerprinted):
    raw, preprocessed = fingerprinted
    case = list_cases(raw, "Tr")[0]
    os.utime(case.pre_contrast)  # new mtime, same content
    folder = preprocessed / REGISTRATION_FOLDER
    assert load_registrations(folder, case, *OPTIONS) is not None
    other = replace(OPTIONS[1], mask_dilation_mm=5.0)
    assert load_registrations(folder, case, OPTIONS[0], other) is None


@pytest.fixture()
def bspline_spy(monkeypatch) -> list[str]:
    """Counts every resampling of a scan (not of a mask) with a registration's transform."""
    calls: list[str] = []
    original = RegistrationResult.resample

    def spy(self, *args, **kwargs):
        interpolation = kwargs.get("interpolation", args[2] if len(args) > 2 else "bspline")
        if interpolation != "nearest":
            calls.append(interpolation)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RegistrationResult, "resample", spy)
    return calls


def test_the_fingerprint_stores_the_resampled_scans_on_pc_grid(fingerprinted):
    raw, preprocessed = fingerprinted
    case = list_cases(raw, "Tr")[0]
    cached = load_registrations(preprocessed / REGISTRATION_FOLDER, case, *OPTIONS)
    assert cached is not None and set(cached.resampled) == {"low_dose", "standard_dose"}
    pre_contrast = sitk.ReadImage(str(case.pre_contrast))
    for image in cached.resampled.values():
        assert image.GetSize() == pre_contrast.GetSize()
        assert image.GetPixelID() == sitk.sitkFloat32


def test_preprocessing_resamples_no_scan_the_fingerprint_stored_and_a_deleted_one_again(
    fingerprinted, bspline_spy, tmp_path
):
    raw, preprocessed = fingerprinted
    case = list_cases(raw, "Tr")[0]
    copy = tmp_path / raw.name
    shutil.copytree(preprocessed / REGISTRATION_FOLDER, copy / REGISTRATION_FOLDER)
    stored = preprocess_and_store_case(case, CONFIGURATION, copy / "stored")
    assert bspline_spy == []
    (copy / REGISTRATION_FOLDER / f"{case.case_id}_low_dose_on_pc.nii").unlink()
    again = preprocess_and_store_case(case, CONFIGURATION, copy / "again")
    assert bspline_spy == ["bspline"]  # LD resampled with the stored transform, SD still read
    np.testing.assert_array_equal(
        case_storage.open_case_arrays(copy / "stored", case.case_id)[...],
        case_storage.open_case_arrays(copy / "again", case.case_id)[...],
    )
    assert stored["noise_sigma_ld"] == again["noise_sigma_ld"]
