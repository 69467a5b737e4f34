"""The dataset preprocessor on a small simulated dataset at 3 mm: storage, reruns, failures, kills."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import read_image
from gdr_toolkit.dataset.raw_layout import case_files, list_cases
from gdr_toolkit.dataset.sharding import Shard
from gdr_toolkit.planning.plans import ConfigurationPlan
from gdr_toolkit.preprocessing import case_storage
from gdr_toolkit.preprocessing.preprocessor import (
    STATISTICS_FILE,
    STORED_CHANNELS,
    PreprocessingError,
    preprocess_dataset,
    run_case_tasks,
)
from gdr_toolkit.simulation import SimulationSettings
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset


def configuration(spacing_mm: float = 3.0) -> ConfigurationPlan:
    return ConfigurationPlan(
        data_identifier=f"gdrPlans_{spacing_mm:g}mm",
        spacing_mm=spacing_mm,
        patch_size=(32, 32, 32),
        batch_size=2,
        network={},
        condition_keys=("noise_sigma_ld",),
        noise_normalisation=True,
        local_noise_kernel_mm=8.0,
        target_device="cpu",
        memory_budget_bytes=0,
        estimated_memory_bytes=0,
        median_image_shape=(48, 64, 56),
    )


@pytest.fixture(scope="module")
def raw_dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("raw") / "Dataset001_Phantom"
    settings = SimulationSettings(spacing_mm=3.0, lesion_count_range=(2, 3))
    write_simulated_dataset(folder, settings, num_training=3, num_test=0, seed=4)
    return folder


@pytest.fixture(scope="module")
def preprocessed(raw_dataset, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("pre") / "gdrPlans_3mm"
    preprocess_dataset(list_cases(raw_dataset, "Tr"), configuration(), output, num_processes=1)
    return output


def test_every_case_is_stored_with_its_properties(preprocessed, raw_dataset):
    for case in list_cases(raw_dataset, "Tr"):
        properties = case_storage.load_case_properties(preprocessed, case.case_id)
        arrays = case_storage.open_case_arrays(preprocessed, case.case_id)
        assert arrays.shape == (len(STORED_CHANNELS), *properties["shape_zyx"])
        assert properties["channels"] == list(STORED_CHANNELS)
        patch = arrays[:, :16, :16, :16]
        assert patch.dtype == np.float32 and np.isfinite(patch).all()
        for name in ("brain_mask", "valid_mask"):
            assert set(np.unique(arrays[STORED_CHANNELS.index(name)])) == {0.0, 1.0}, name


def test_stored_properties_carry_coverage_and_registration_quality(preprocessed, raw_dataset):
    properties = case_storage.load_case_properties(preprocessed, list_cases(raw_dataset, "Tr")[0].case_id)
    assert set(properties["coverage"]) == {"low_dose", "standard_dose"}
    for name in ("low_dose", "standard_dose"):
        assert properties["coverage"][name] > 0.99  # the simulated scans cover the whole head
        assert properties["registration_quality"][name]["accepted"] is True


def test_enhancing_locations_point_at_enhancing_voxels(preprocessed, raw_dataset):
    case_id = list_cases(raw_dataset, "Tr")[0].case_id
    properties = case_storage.load_case_properties(preprocessed, case_id)
    probability = case_storage.open_case_arrays(preprocessed, case_id)[STORED_CHANNELS.index("p_sd")]
    locations = np.asarray(properties["enhancing_locations_zyx"])
    assert len(locations) > 0
    assert (probability[tuple(locations.T)] > 0.5).all()


def test_gamma_is_reduced_over_the_training_cases(preprocessed):
    statistics = json.loads((preprocessed / STATISTICS_FILE).read_text())
    values = list(statistics["gamma_statistic_per_case"].values())
    assert len(values) == 3
    assert statistics["gamma"] == pytest.approx(np.mean(values))


def test_rerun_skips_complete_cases_and_changes_nothing(preprocessed, raw_dataset):
    before = {path.name: path.read_bytes() for path in preprocessed.iterdir()}
    summary = preprocess_dataset(list_cases(raw_dataset, "Tr"), configuration(), preprocessed)
    assert summary.processed == () and len(summary.skipped) == 3
    assert {path.name: path.read_bytes() for path in preprocessed.iterdir()} == before


def test_resampling_to_another_spacing(raw_dataset, tmp_path):
    cases = list_cases(raw_dataset, "Tr")[:1]
    preprocess_dataset(cases, configuration(4.0), tmp_path)
    properties = case_storage.load_case_properties(tmp_path, cases[0].case_id)
    assert properties["preprocessed_grid"]["spacing_mm"] == [4.0, 4.0, 4.0]
    assert properties["geometry"]["spacing_mm"] == [3.0, 3.0, 3.0]  # the raw PC grid, for export


def test_a_broken_case_is_named_and_the_others_finish(raw_dataset, tmp_path):
    cases = list_cases(raw_dataset, "Tr")
    broken = tmp_path / "broken_0001.nii.gz"
    broken.write_bytes(b"not an image")
    cases[1] = type(cases[1])(**{**cases[1].__dict__, "low_dose": broken})
    with pytest.raises(PreprocessingError, match=cases[1].case_id) as info:
        preprocess_dataset(cases, configuration(), tmp_path / "out")
    assert "broken_0001.nii.gz" in str(info.value)
    assert case_storage.is_case_complete(tmp_path / "out", cases[0].case_id)
    assert case_storage.is_case_complete(tmp_path / "out", cases[2].case_id)


def _mispaired(case, tmp_path: Path):
    """The case with its LD replaced by noise on LD's grid (a scan of something else entirely)."""
    low_dose = read_image(case.low_dose)
    noise = sitk.GetImageFromArray(
        np.random.default_rng(0).random(sitk.GetArrayViewFromImage(low_dose).shape, dtype=np.float32) * 100
    )
    noise.CopyInformation(low_dose)
    path = tmp_path / "mispaired_0001.nii.gz"
    sitk.WriteImage(noise, str(path))
    return type(case)(**{**case.__dict__, "low_dose": path})


def test_a_poorly_registered_case_is_refused_by_name(raw_dataset, tmp_path):
    case = _mispaired(list_cases(raw_dataset, "Tr")[0], tmp_path)
    with pytest.raises(PreprocessingError, match=f"{case.case_id}: the low_dose registration") as info:
        preprocess_dataset([case], configuration(), tmp_path / "out")
    assert "similarity" in str(info.value) and "threshold" in str(info.value)
    assert not case_storage.is_case_complete(tmp_path / "out", case.case_id)


def test_the_refusal_can_be_overridden(raw_dataset, tmp_path):
    case = _mispaired(list_cases(raw_dataset, "Tr")[0], tmp_path)
    preprocess_dataset([case], configuration(), tmp_path / "out", accept_poor_registration=True)
    properties = case_storage.load_case_properties(tmp_path / "out", case.case_id)
    assert properties["registration_quality"]["low_dose"]["accepted"] is False


KILL_SCRIPT = """
import sys
from pathlib import Path
from gdr_toolkit.dataset.raw_layout import case_files, list_cases
from gdr_toolkit.preprocessing.preprocessor import preprocess_dataset
sys.path.insert(0, {tests!r})
from test_preprocessor import configuration
preprocess_dataset(list_cases(Path({raw!r}), "Tr"), configuration(), Path({out!r}))
"""


def test_killed_run_resumes_without_partial_files(raw_dataset, tmp_path):
    output = tmp_path / "killed"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), raw=str(raw_dataset), out=str(output))
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONWARNINGS": "ignore"})
    deadline = time.monotonic() + 900  # generous: a loaded machine preprocesses slowly
    while time.monotonic() < deadline and not list(output.glob("*.json")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 1 <= len(list(output.glob("*.json"))) < 3, "the kill should land between cases"
    summary = preprocess_dataset(list_cases(raw_dataset, "Tr"), configuration(), output)
    assert len(summary.skipped) >= 1
    assert not list(output.glob(".tmp-*"))
    for case in list_cases(raw_dataset, "Tr"):
        assert case_storage.open_case_arrays(output, case.case_id)[:, :4, :4, :4].shape[0] == len(
            STORED_CHANNELS
        )


def _tasks(*case_ids: str) -> list[tuple]:
    return [(case_files(Path("unused"), case_id, "Tr", ".nii.gz"), None, None) for case_id in case_ids]


def _die(task) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _fail_on_second(task) -> None:
    if task[0].case_id == "b":
        raise ValueError("bad input in b")


def test_worker_death_is_reported_with_a_hint():
    with pytest.raises(PreprocessingError, match="died") as info:
        run_case_tasks(_die, _tasks("a", "b"), num_processes=2)
    assert "-np" in str(info.value)


def test_parallel_failures_are_collected_by_case():
    failures = run_case_tasks(_fail_on_second, _tasks("a", "b"), num_processes=2)
    assert failures == {"b": "ValueError: bad input in b"}


def test_a_sharded_run_stores_the_same_files_as_the_unsharded_one(preprocessed, raw_dataset, tmp_path):
    """Part 1 of 2 run here, part 0's cases copied from the unsharded run (the full form is in
    ``test_sharded_preprocessing.py``, slow): same files, bit-identical arrays, statistics once complete."""
    cases = list_cases(raw_dataset, "Tr")
    second = preprocess_dataset(cases, configuration(), tmp_path, shard=Shard(2, 1))
    assert second.processed == (cases[1].case_id,)
    assert not (tmp_path / STATISTICS_FILE).exists()
    for case in Shard(2, 0).select(cases, lambda case: case.case_id):
        for path in (case_storage.case_array_path, case_storage.case_properties_path):
            shutil.copyfile(path(preprocessed, case.case_id), path(tmp_path, case.case_id))
    first = preprocess_dataset(cases, configuration(), tmp_path, shard=Shard(2, 0))
    assert first.processed == () and len(first.skipped) == 2  # complete: only the statistics are written
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        path.name for path in preprocessed.iterdir()
    )
    assert (tmp_path / STATISTICS_FILE).read_bytes() == (preprocessed / STATISTICS_FILE).read_bytes()
    case_id = cases[1].case_id
    np.testing.assert_array_equal(
        case_storage.open_case_arrays(tmp_path, case_id)[...],
        case_storage.open_case_arrays(preprocessed, case_id)[...],
    )
    timed = (
        case_storage.load_case_properties(tmp_path, case_id),
        case_storage.load_case_properties(preprocessed, case_id),
    )
    for properties in timed:
        properties.pop("step_seconds")
    assert timed[0] == timed[1]
