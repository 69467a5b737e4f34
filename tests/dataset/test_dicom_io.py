from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.dataset.dicom_io import (
    COPIED_TAGS,
    MR_IMAGE_STORAGE,
    DerivedSeries,
    dicom_tags,
    new_uid,
    read_dicom_series,
    write_dicom_series,
)
from gdr_toolkit.dataset.image_io import read_image

UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PATIENT = {
    "0010|0010": "TEST^PATIENT",
    "0010|0020": "PID-42",
    "0020|000d": "1.2.3.4.5",
    "0020|0052": "1.2.3.4.6",
    "0008|1030": "BRAIN WITH CONTRAST",
}


def oblique_volume(seed: int = 0) -> sitk.Image:
    """6 x 7 x 5 voxels, anisotropic spacing, rotated direction, values in [-100, 900)."""
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray((rng.random((5, 7, 6)) * 1000 - 100).astype(np.float32))
    image.SetSpacing((0.9, 1.1, 3.0))
    image.SetOrigin((10.0, -20.0, 30.0))
    image.SetDirection(sitk.VersorTransform((0.2, 0.3, 0.1), 0.3).GetMatrix())
    return image


def slice_tags(folder, key: str) -> list[str]:
    values = []
    for path in sorted(folder.glob("*.dcm")):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        values.append(reader.GetMetaData(key).strip())
    return values


@pytest.fixture
def source_series(tmp_path):
    """An oblique PC written as a DICOM series with patient and study tags, and its volume."""
    volume = oblique_volume()
    write_dicom_series(volume, tmp_path / "pc", DerivedSeries("T1 PRE"), PATIENT)
    return tmp_path / "pc", volume


def test_written_series_reads_back_in_the_source_geometry(source_series, tmp_path):
    folder, volume = source_series
    back = read_image(folder)
    assert back.GetSize() == volume.GetSize()
    np.testing.assert_allclose(back.GetOrigin(), volume.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(back.GetSpacing(), volume.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(back.GetDirection(), volume.GetDirection(), atol=1e-6)


def test_values_survive_within_half_the_rescale_slope(tmp_path):
    volume = oblique_volume(seed=3)
    rescale = write_dicom_series(volume, tmp_path / "sd", DerivedSeries("SD"))
    error = np.abs(sitk.GetArrayFromImage(read_image(tmp_path / "sd")) - sitk.GetArrayFromImage(volume))
    value_range = float(np.ptp(sitk.GetArrayViewFromImage(volume)))
    assert rescale.slope == pytest.approx(value_range / 65534, rel=1e-6)
    assert error.max() <= rescale.slope / 2 * 1.001 + 1e-4


def test_derived_series_copies_patient_and_study_with_new_uids(source_series, tmp_path):
    folder, _ = source_series
    source = read_image(folder)
    write_dicom_series(source, tmp_path / "sd", DerivedSeries("SYNTHETIC SD"), dicom_tags(source))
    derived = read_dicom_series(tmp_path / "sd")
    for key in ("0010|0010", "0010|0020", "0020|000d", "0020|0052", "0008|1030"):
        assert derived.GetMetaData(key) == PATIENT[key], COPIED_TAGS[key]
    assert derived.GetMetaData("0020|000e") != source.GetMetaData("0020|000e")
    sop_uids = slice_tags(tmp_path / "sd", "0008|0018") + slice_tags(folder, "0008|0018")
    assert len(set(sop_uids)) == len(sop_uids)
    for uid in [*sop_uids, derived.GetMetaData("0020|000e")]:
        assert UID.match(uid) and len(uid) <= 64, uid


def test_derived_series_is_marked_synthetic_and_derived(tmp_path):
    write_dicom_series(
        oblique_volume(), tmp_path / "sd", DerivedSeries("SYNTHETIC SD - not for diagnosis", 9001)
    )
    assert set(slice_tags(tmp_path / "sd", "0008|0008")) == {"DERIVED\\SECONDARY\\OTHER\\SYNTHETIC"}
    assert set(slice_tags(tmp_path / "sd", "0008|103e")) == {"SYNTHETIC SD - not for diagnosis"}
    assert set(slice_tags(tmp_path / "sd", "0020|0011")) == {"9001"}
    assert slice_tags(tmp_path / "sd", "0020|0013") == ["1", "2", "3", "4", "5"]


def test_without_reference_patient_and_study_are_generated(tmp_path):
    write_dicom_series(oblique_volume(), tmp_path / "sd", DerivedSeries("SD"))
    derived = read_dicom_series(tmp_path / "sd")
    assert derived.GetMetaData("0010|0020") == "GDR_ANONYMOUS"
    assert UID.match(derived.GetMetaData("0020|000d"))


def test_left_handed_grid_reads_back_as_the_same_physical_voxels(tmp_path):
    volume = oblique_volume()
    volume.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, -1))
    write_dicom_series(volume, tmp_path / "sd", DerivedSeries("SD"))
    back = sitk.Resample(read_image(tmp_path / "sd"), volume, sitk.Transform(), sitk.sitkNearestNeighbor)
    rescale_step = float(np.ptp(sitk.GetArrayViewFromImage(volume))) / 65534
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(volume), atol=rescale_step
    )


def test_rewriting_replaces_the_series_and_leaves_no_temporary_folder(tmp_path):
    write_dicom_series(oblique_volume(seed=1), tmp_path / "sd", DerivedSeries("SD"))
    volume = oblique_volume(seed=2)
    write_dicom_series(volume, tmp_path / "sd", DerivedSeries("SD"))
    assert [path.name for path in tmp_path.iterdir()] == ["sd"]
    assert len(list((tmp_path / "sd").iterdir())) == volume.GetSize()[2]
    back = sitk.GetArrayFromImage(read_image(tmp_path / "sd"))
    np.testing.assert_allclose(back, sitk.GetArrayFromImage(volume), atol=0.02)


def test_folder_with_two_series_lists_them(tmp_path):
    write_dicom_series(oblique_volume(), tmp_path / "a", DerivedSeries("T1 PRE"))
    write_dicom_series(oblique_volume(), tmp_path / "b", DerivedSeries("T1 LOW DOSE"))
    for path in (tmp_path / "b").iterdir():
        path.rename(tmp_path / "a" / f"b_{path.name}")
    with pytest.raises(ValueError, match="holds 2 DICOM series") as error:
        read_image(tmp_path / "a")
    assert "T1 PRE" in str(error.value) and "T1 LOW DOSE" in str(error.value)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "CASE_0000").mkdir()
    with pytest.raises(ValueError, match="CASE_0000: folder holds no DICOM series"):
        read_image(tmp_path / "CASE_0000")


def test_new_uids_are_valid_and_distinct():
    uids = {new_uid() for _ in range(100)}
    assert len(uids) == 100
    assert all(UID.match(uid) and len(uid) <= 64 for uid in uids)


def test_series_is_mr_image_storage_in_a_fresh_process(tmp_path):
    """GDCM's choice of SOP class depends on process state (dicom_io._enable_rescaled_mr_storage)."""
    code = (
        "import sys, SimpleITK as sitk; sys.path.insert(0, sys.argv[2]);"
        "from test_dicom_io import oblique_volume;"
        "from gdr_toolkit.dataset.dicom_io import DerivedSeries, write_dicom_series;"
        "write_dicom_series(oblique_volume(), sys.argv[1], DerivedSeries('SD'))"
    )
    test_folder = str(__import__("pathlib").Path(__file__).parent)
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "sd"), test_folder], check=True)
    assert set(slice_tags(tmp_path / "sd", "0008|0016")) == {MR_IMAGE_STORAGE}
