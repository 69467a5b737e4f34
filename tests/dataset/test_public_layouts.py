"""BraTS folders imported as raw pair datasets: naming schemes, enhancing lesions, verification."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.cli.import_brats import main as import_main
from gdr_toolkit.dataset.public_layouts import enhancing_lesions, find_brats_cases, import_brats
from gdr_toolkit.dataset.raw_layout import load_dataset_description, require_low_dose
from gdr_toolkit.dataset.verify import verify_dataset
from gdr_toolkit.fingerprint.extraction import extract_fingerprint

SHAPE = (10, 12, 14)


def _write(path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.0, 1.0, 1.0))
    sitk.WriteImage(image, str(path))


def _segmentation(enhancing: int) -> np.ndarray:
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[1:3, 1:3, 1:3] = enhancing  # lesion 1
    labels[6:8, 8:10, 9:12] = enhancing  # lesion 2 (not touching)
    labels[4, 4, 4] = 1  # necrosis
    labels[4, 6, 4] = 2  # oedema
    return labels


@pytest.fixture
def brats_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "brats"
    for name in ("BraTS20_Training_001", "BraTS20_Training_002"):
        _write(folder / name / f"{name}_t1.nii.gz", rng.uniform(1, 100, SHAPE).astype(np.float32))
        _write(folder / name / f"{name}_t1ce.nii.gz", rng.uniform(1, 100, SHAPE).astype(np.float32))
        _write(folder / name / f"{name}_t2.nii.gz", rng.uniform(1, 100, SHAPE).astype(np.float32))
    _write(folder / "BraTS20_Training_001" / "BraTS20_Training_001_seg.nii.gz", _segmentation(4))
    name = "BraTS-MET-00005-000"
    _write(folder / name / f"{name}-t1n.nii.gz", rng.uniform(1, 100, SHAPE).astype(np.float32))
    _write(folder / name / f"{name}-t1c.nii.gz", rng.uniform(1, 100, SHAPE).astype(np.float32))
    _write(folder / name / f"{name}-seg.nii.gz", _segmentation(3))
    _write(folder / "BraTS20_Training_003" / "BraTS20_Training_003_t1.nii.gz", np.ones(SHAPE, np.float32))
    return folder


def test_both_naming_schemes_are_found_and_incomplete_cases_skipped(brats_folder):
    cases = {case.case_id: case for case in find_brats_cases(brats_folder)}
    assert sorted(cases) == ["BraTS-MET-00005-000", "BraTS20_Training_001", "BraTS20_Training_002"]
    assert cases["BraTS-MET-00005-000"].release.enhancing_label == 3
    assert cases["BraTS20_Training_001"].pre_contrast.name.endswith("_t1.nii.gz")
    assert cases["BraTS20_Training_002"].segmentation is None


def test_only_the_enhancing_label_becomes_lesions():
    lesions = enhancing_lesions(_segmentation(4), 4)
    assert lesions.max() == 2 and lesions[4, 4, 4] == 0 and lesions[4, 6, 4] == 0
    assert (lesions == 1).sum() == 8 and (lesions == 2).sum() == 12
    assert enhancing_lesions(_segmentation(4), 3).max() == 0  # 2020 labels read as 2023: nothing enhances


def test_import_writes_a_pair_dataset_that_verifies_and_is_refused_for_training(brats_folder, tmp_path):
    dataset = tmp_path / "Dataset010_BraTS"
    import_brats(brats_folder, dataset)
    description = load_dataset_description(dataset)
    assert not description.has_low_dose and description.num_training == 3
    assert (dataset / "imagesTr" / "BraTS20_Training_001_0000.nii.gz").is_file()
    assert (dataset / "targetsTr" / "BraTS-MET-00005-000.nii.gz").is_file()
    assert not list((dataset / "imagesTr").glob("*_0001.nii.gz"))
    lesions = sitk.GetArrayFromImage(
        sitk.ReadImage(str(dataset / "lesionsTr" / "BraTS-MET-00005-000.nii.gz"))
    )
    assert lesions.max() == 2
    assert verify_dataset(dataset) == []
    with pytest.raises(ValueError, match="gdr_synthesize_low_dose"):
        require_low_dose(dataset)
    with pytest.raises(ValueError, match="without a low-dose channel"):
        extract_fingerprint(dataset)  # the first stage of training refuses it before reading any image


def test_pair_dataset_with_a_stray_low_dose_is_reported(brats_folder, tmp_path):
    dataset = tmp_path / "Dataset011_BraTS"
    import_brats(brats_folder, dataset)
    _write(dataset / "imagesTr" / "BraTS20_Training_002_0001.nii.gz", np.ones(SHAPE, np.float32))
    problems = verify_dataset(dataset)
    assert any("no low-dose channel" in str(problem) for problem in problems)


def test_command_imports_into_gdr_raw(brats_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("gdr_raw", str(tmp_path / "raw"))
    (tmp_path / "raw").mkdir()
    assert import_main(["-i", str(brats_folder), "-d", "12", "--name", "Glioma"]) == 0
    assert (tmp_path / "raw" / "Dataset012_Glioma" / "dataset.json").is_file()
    assert import_main(["-i", str(tmp_path / "absent"), "-d", "13"]) == 1
