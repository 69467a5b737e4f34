"""Validation of DICOM series folders (gdr_toolkit/dataset/dicom_series.py) on real-sized scanner-like
series (256 x 256 x 112, one file per slice, written once per module and copied per fault)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).parent))  # the series builder shared with tests/cli and tests/inference
from mr_series_builder import (  # noqa: E402
    OBLIQUE,
    REAL_SIZE,
    Patient,
    SeriesGeometry,
    head_volume,
    slice_marker,
    write_dicomdir_series,
    write_enhanced_mr,
    write_mr_series,
)

from gdr_toolkit.dataset.dicom_headers import DicomSeriesError  # noqa: E402
from gdr_toolkit.dataset.dicom_io import read_dicom_series  # noqa: E402
from gdr_toolkit.dataset.dicom_series import (  # noqa: E402
    SeriesTolerances,
    check_reader_geometry,
    validate_series,
)
from gdr_toolkit.dataset.image_io import read_image  # noqa: E402

MIDDLE = REAL_SIZE[0] // 2


@pytest.fixture(scope="module")
def volume():
    return head_volume()


@pytest.fixture(scope="module")
def good_series(tmp_path_factory, volume):
    folder = tmp_path_factory.mktemp("series") / "pc"
    write_mr_series(folder, volume)
    return folder


@pytest.fixture
def series_copy(good_series, tmp_path):
    """A private copy of the good series to break."""
    return Path(shutil.copytree(good_series, tmp_path / "CASE_0000"))


def edit(path: Path, **values: object) -> None:
    """Set data elements of one file (keyword=value) and save it."""
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


def assert_geometry(
    image: sitk.Image, geometry: SeriesGeometry, shape: tuple[int, int, int] = REAL_SIZE
) -> None:
    assert image.GetSize() == (shape[2], shape[1], shape[0])
    np.testing.assert_allclose(image.GetSpacing(), geometry.spacing_mm, rtol=1e-6)
    np.testing.assert_allclose(image.GetOrigin(), geometry.origin_mm, atol=1e-4)
    direction = np.reshape(image.GetDirection(), (3, 3))
    np.testing.assert_allclose(direction[:, 0], geometry.orientation[:3], atol=1e-6)
    np.testing.assert_allclose(direction[:, 2], geometry.normal(), atol=1e-6)


def assert_slices_in_place(image: sitk.Image) -> None:
    """Slice k of the image holds the marker written into slice k (nothing lost, reordered or shifted)."""
    centre = sitk.GetArrayViewFromImage(image)[:, REAL_SIZE[1] // 2, REAL_SIZE[2] // 2]
    np.testing.assert_array_equal(centre[10:-10], [slice_marker(k) for k in range(10, REAL_SIZE[0] - 10)])


def test_scanner_series_reads_with_its_geometry_and_slices_in_place(good_series):
    image = read_image(good_series)
    assert_geometry(image, SeriesGeometry())
    assert_slices_in_place(image)
    assert image.GetMetaData("0010|0020") == Patient().patient_id


def test_oblique_series_with_shuffled_file_names_reads_in_slice_order(tmp_path, volume):
    paths = write_mr_series(tmp_path / "oblique", volume, geometry=OBLIQUE)
    for index, path in enumerate(paths):  # names no longer follow the slice order
        path.rename(path.with_name(f"X{(index * 37) % len(paths):04d}_{index}.dcm"))
    image = read_dicom_series(tmp_path / "oblique")
    assert_geometry(image, OBLIQUE)
    assert_slices_in_place(image)


def test_missing_middle_slice_is_refused_naming_its_neighbours(series_copy):
    (series_copy / f"IM{MIDDLE + 1:04d}.dcm").unlink()
    with pytest.raises(DicomSeriesError, match="rule: even spacing") as error:
        read_image(series_copy)
    message = str(error.value)
    assert (
        f"1 missing slice(s) between IM{MIDDLE:04d}.dcm" in message and f"IM{MIDDLE + 2:04d}.dcm" in message
    )
    assert "step 2.400 mm" in message and "\n" not in message


def test_truncated_file_is_refused_by_name(series_copy):
    path = series_copy / "IM0031.dcm"
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(DicomSeriesError, match="IM0031.dcm") as error:
        read_image(series_copy)
    assert "rule: every file readable" in str(error.value)


def test_file_cut_inside_its_pixel_data_is_refused_with_the_byte_count(series_copy):
    path = series_copy / "IM0032.dcm"
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(
        DicomSeriesError, match=r"IM0032.dcm: truncated: pixel data holds 130072 of 131072 bytes"
    ):
        read_image(series_copy)


def test_duplicate_position_is_refused_naming_both_files(series_copy):
    twin = pydicom.dcmread(series_copy / "IM0040.dcm").ImagePositionPatient
    edit(series_copy / "IM0041.dcm", ImagePositionPatient=twin)
    with pytest.raises(DicomSeriesError, match="rule: positions unique") as error:
        read_image(series_copy)
    assert "IM0040.dcm" in str(error.value) and "IM0041.dcm" in str(error.value)


def test_ct_modality_is_refused(series_copy):
    for path in series_copy.iterdir():
        edit(path, Modality="CT")
    with pytest.raises(DicomSeriesError, match=r"Modality CT .*expected MR \(rule: modality MR\)"):
        read_image(series_copy)


def test_two_series_in_one_folder_are_listed(series_copy, tmp_path, volume):
    write_mr_series(tmp_path / "ld", volume[:20], description="T1_MPRAGE_LOW_DOSE")
    for path in (tmp_path / "ld").iterdir():
        path.rename(series_copy / f"LD_{path.name}")
    with pytest.raises(DicomSeriesError, match="holds 2 DICOM series") as error:
        read_image(series_copy)
    assert "T1_MPRAGE_PRE, 112 file(s)" in str(error.value) and "T1_MPRAGE_LOW_DOSE, 20 file(s)" in str(
        error.value
    )


@pytest.mark.parametrize(
    ("charset", "name"), [("ISO_IR 100", "Müller^Jürgen"), ("ISO_IR 192", "Müller^Jürgen^Ōta")]
)
def test_patient_names_are_decoded_with_the_series_character_set(tmp_path, charset, name):
    write_mr_series(tmp_path / "pc", head_volume((4, 256, 256)), patient=Patient(name=name, charset=charset))
    raw = (tmp_path / "pc" / "IM0001.dcm").read_bytes()
    assert name.split("^")[0].encode("latin-1" if charset == "ISO_IR 100" else "utf-8") in raw
    assert read_image(tmp_path / "pc").GetMetaData("0010|0010") == name


def test_unevenly_spaced_slice_is_refused(series_copy):
    position = pydicom.dcmread(series_copy / "IM0060.dcm").ImagePositionPatient
    edit(
        series_copy / "IM0060.dcm", ImagePositionPatient=[position[0], position[1], float(position[2]) + 0.3]
    )
    with pytest.raises(DicomSeriesError, match="not evenly spaced") as error:
        read_image(series_copy)
    assert "gap between IM0059.dcm" in str(error.value) and "IM0060.dcm" in str(error.value)


def test_rounding_of_positions_within_the_tolerance_is_accepted(series_copy):
    rng = np.random.default_rng(0)
    for path in sorted(series_copy.iterdir())[::7]:
        position = [float(value) for value in pydicom.dcmread(path).ImagePositionPatient]
        edit(path, ImagePositionPatient=list(np.add(position, rng.uniform(-0.004, 0.004, 3))))
    assert read_image(series_copy).GetSize() == (256, 256, 112)


def test_gantry_tilt_is_refused_with_its_angle(series_copy):
    for index, path in enumerate(sorted(series_copy.iterdir())):
        position = [float(value) for value in pydicom.dcmread(path).ImagePositionPatient]
        shift = index * 1.2 * np.tan(np.radians(15))  # slices shear along y: a 15 degree tilted gantry
        edit(path, ImagePositionPatient=[position[0], position[1] + shift, position[2]])
    with pytest.raises(DicomSeriesError, match=r"15\.00 degrees.*gantry tilt"):
        read_image(series_copy)


def test_different_orientation_in_one_file_is_refused(series_copy):
    edit(series_copy / "IM0050.dcm", ImageOrientationPatient=list(OBLIQUE.orientation))
    with pytest.raises(DicomSeriesError, match=r"IM0050.dcm has orientation .*rule: same orientation"):
        read_image(series_copy)


def test_different_pixel_spacing_in_one_file_is_refused(series_copy):
    edit(series_copy / "IM0050.dcm", PixelSpacing=[1.0, 1.0])
    with pytest.raises(DicomSeriesError, match=r"IM0050.dcm has pixel spacing .*rule: pixel spacing equal"):
        read_image(series_copy)


def test_different_matrix_in_one_file_is_refused(series_copy):
    edit(
        series_copy / "IM0050.dcm", Rows=128, Columns=128, PixelData=np.zeros((128, 128), np.int16).tobytes()
    )
    with pytest.raises(
        DicomSeriesError, match=r"IM0050.dcm has 128 x 128 pixels.*rule: rows and columns equal"
    ):
        read_image(series_copy)


def test_two_sop_classes_are_refused(series_copy):
    edit(series_copy / "IM0050.dcm", SOPClassUID="1.2.840.10008.5.1.4.1.1.7")  # Secondary Capture
    with pytest.raises(DicomSeriesError, match="rule: one SOP class"):
        read_image(series_copy)


def test_a_file_that_is_not_dicom_is_named(series_copy):
    (series_copy / "notes.txt").write_text("exported by the PACS")
    with pytest.raises(DicomSeriesError, match=r"notes.txt: not a DICOM file"):
        read_image(series_copy)


def test_single_slice_is_not_a_volume(tmp_path):
    write_mr_series(tmp_path / "one", head_volume((1, 256, 256)))
    with pytest.raises(DicomSeriesError, match="at least 2"):
        read_image(tmp_path / "one")


def test_reader_geometry_is_checked_against_the_files(good_series):
    tolerances = SeriesTolerances()
    series = validate_series(good_series, tolerances)
    image = read_dicom_series(good_series)
    check_reader_geometry(image, series, tolerances)  # agrees
    image.SetOrigin(
        np.add(image.GetOrigin(), (0.0, 0.0, 1.2)).tolist()
    )  # one slice off, as a wrong sort would be
    with pytest.raises(DicomSeriesError, match="reader's origin .*rule: geometry read equals"):
        check_reader_geometry(image, series, tolerances)


def test_enhanced_mr_with_frames_out_of_order_reads_like_the_classic_series(tmp_path, volume, good_series):
    order = [int(index) for index in np.random.default_rng(1).permutation(len(volume))]
    write_enhanced_mr(tmp_path / "enhanced" / "MF0001.dcm", volume, frame_order=order)
    image = read_image(tmp_path / "enhanced")
    classic = read_image(good_series)
    assert_geometry(image, SeriesGeometry())
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(classic))
    assert image.GetMetaData("0010|0020") == Patient().patient_id


def test_enhanced_mr_with_a_missing_frame_is_refused(tmp_path, volume):
    order = [index for index in range(len(volume)) if index != MIDDLE]
    write_enhanced_mr(tmp_path / "enhanced" / "MF0001.dcm", volume, frame_order=order)
    with pytest.raises(DicomSeriesError, match=rf"MF0001.dcm frame {MIDDLE}\b.*rule: even spacing"):
        read_image(tmp_path / "enhanced")


def test_dicomdir_folder_reads_its_series(tmp_path, volume):
    write_dicomdir_series(tmp_path / "cd", volume, geometry=OBLIQUE)
    assert (tmp_path / "cd" / "DICOMDIR").is_file()
    image = read_image(tmp_path / "cd")
    assert_geometry(image, OBLIQUE)
    assert_slices_in_place(image)


def test_enhanced_mr_whose_frame_count_disagrees_is_refused(tmp_path, volume):
    path = tmp_path / "enhanced" / "MF0001.dcm"
    write_enhanced_mr(path, volume)
    edit(path, NumberOfFrames=len(volume) + 1)
    with pytest.raises(
        DicomSeriesError, match=r"MF0001.dcm: .*(NumberOfFrames is 113 but 112|pixel data holds)"
    ):
        read_image(tmp_path / "enhanced")
