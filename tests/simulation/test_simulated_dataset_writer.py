"""The simulated raw dataset: layout, metadata schema, idempotent reruns, per-case reproducibility."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.metadata import load_case_metadata
from gdr_toolkit.dataset.raw_layout import list_cases, load_dataset_description
from gdr_toolkit.simulation import SimulationSettings, write_simulated_dataset
from gdr_toolkit.simulation.dataset_writer import case_id


def _files(folder):
    return {
        path.relative_to(folder): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()
    }


def test_writer_produces_full_layout_with_valid_metadata(tmp_path):
    folder = tmp_path / "Dataset001_Phantom"
    written = write_simulated_dataset(folder, SimulationSettings.tiny(), num_training=2, num_test=1, seed=7)
    assert written == ["phantom_000", "phantom_001", "phantom_002"]
    description = load_dataset_description(folder)
    assert description.num_training == 2 and description.licence == "CC0 (simulated)"
    for split, expected in (("Tr", ["phantom_000", "phantom_001"]), ("Ts", ["phantom_002"])):
        cases = list_cases(folder, split)
        assert [case.case_id for case in cases] == expected
        for case in cases:
            for path in (case.pre_contrast, case.low_dose, case.standard_dose, case.lesions):
                assert path.is_file(), path
            metadata = load_case_metadata(case.metadata)
            assert 0.1 <= metadata.dose_fraction <= 0.33
            assert metadata.sequence["scanner"] == "simulated"
            assert metadata.simulation["motion"]["low_dose"]["type"] == "Euler3DTransform"
            labels = sitk.ReadImage(str(case.lesions))
            assert labels.GetSize() == sitk.ReadImage(str(case.pre_contrast)).GetSize()


def test_rerun_is_idempotent(tmp_path):
    folder = tmp_path / "Dataset002_Phantom"
    write_simulated_dataset(folder, SimulationSettings.tiny(), num_training=1, seed=1)
    before = _files(folder)
    (folder / "metadataTr" / "phantom_000.json").unlink()  # an interrupted case is redone
    assert write_simulated_dataset(folder, SimulationSettings.tiny(), num_training=1, seed=1) == [
        "phantom_000"
    ]
    assert write_simulated_dataset(folder, SimulationSettings.tiny(), num_training=1, seed=1) == []
    assert _files(folder) == before


def test_case_is_identical_whatever_the_number_of_cases(tmp_path):
    small, large = tmp_path / "Dataset003_A", tmp_path / "Dataset004_B"
    write_simulated_dataset(small, SimulationSettings.tiny(), num_training=3, seed=9)
    write_simulated_dataset(large, SimulationSettings.tiny(), num_training=5, seed=9)
    for name in (
        f"imagesTr/{case_id(2)}_0001.nii.gz",
        f"targetsTr/{case_id(2)}.nii.gz",
        f"lesionsTr/{case_id(2)}.nii.gz",
    ):
        first = sitk.GetArrayFromImage(sitk.ReadImage(str(small / name)))
        second = sitk.GetArrayFromImage(sitk.ReadImage(str(large / name)))
        assert np.array_equal(first, second), name
    assert (small / "metadataTr/phantom_002.json").read_text() == (
        large / "metadataTr/phantom_002.json"
    ).read_text()


def test_int16_storage_writes_rescaled_int16_that_reads_back_within_half_a_slope(tmp_path, tiny_case):
    import nibabel

    folder = tmp_path / "Dataset005_Int16"
    settings = SimulationSettings.tiny(storage_dtype="int16")  # tiny_case's phantom (seed 3), int16 files
    write_simulated_dataset(folder, settings, num_training=1, seed=3)
    case = list_cases(folder, "Tr")[0]
    storage = load_case_metadata(case.metadata).simulation["storage"]
    for scan, path in (("pre_contrast", case.pre_contrast), ("standard_dose", case.standard_dose)):
        stored = nibabel.load(path)
        assert stored.get_data_dtype() == np.int16
        assert stored.dataobj.slope == np.float32(storage[scan]["scl_slope"]) > 0
        read = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float64)
        error = np.abs(read - sitk.GetArrayFromImage(getattr(tiny_case, scan)))
        assert 0 < error.max() <= storage[scan]["scl_slope"] / 2 + 1e-3
    labels = sitk.ReadImage(str(case.lesions))
    assert labels.GetPixelID() == sitk.sitkUInt16


def test_real_scans_dataset_records_the_variation_and_the_colin27_notice(tmp_path):
    import json

    folder = tmp_path / "Dataset002_RealScans"
    settings = SimulationSettings.real_scans(spacing_mm=4.0, skull_strip_fraction=1.0)
    write_simulated_dataset(folder, settings, num_training=1, seed=3)
    assert "BSD-3-clause" in load_dataset_description(folder).licence
    (case,) = list_cases(folder, "Tr")
    variation = json.loads(case.metadata.read_text())["simulation"]["variation"]
    assert variation["skull_stripped"] is True and variation["anatomy"] in ("mni152", "colin27")
    stored = sitk.GetArrayFromImage(sitk.ReadImage(str(case.pre_contrast)))
    assert (stored == 0).mean() > 0.5  # the stripped background reads back as exact zeros
