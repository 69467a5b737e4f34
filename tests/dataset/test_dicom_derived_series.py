"""What the toolkit writes as a synthetic MR series: character set, identity, provenance, references and
conformance (checked by dciodvfy where installed), read back with pydicom."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scanner_series import ORIGIN_MM, SPACING_MM, scanner_volume, write_scanner_series

from gdr_toolkit import __version__
from gdr_toolkit.dataset.dicom_derived_series import Provenance, SeriesSources
from gdr_toolkit.dataset.dicom_headers import read_series_headers
from gdr_toolkit.dataset.dicom_io import DerivedSeries, write_dicom_series

NAME = "Müller^Jürgen"
PROVENANCE = Provenance("Trainer__plans__3d_fullres", "abc123def456")


def on_pc_grid(array: np.ndarray) -> sitk.Image:
    """An image on the grid of :func:`write_scanner_series` (axial, identity direction)."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING_MM)
    image.SetOrigin(ORIGIN_MM)
    return image


def read_series(folder) -> list[pydicom.Dataset]:
    return sorted((pydicom.dcmread(path) for path in folder.glob("*.dcm")), key=lambda ds: ds.InstanceNumber)


def dciodvfy_errors(path) -> list[str]:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


@pytest.fixture
def case(tmp_path):
    """PC and LD written by pydicom like a scanner (LD with contrast tags); the sources of a derived series."""

    made = []

    def make(character_set: str = "ISO_IR 192", ld_extra: dict | None = None) -> SeriesSources:
        made.append(character_set)
        pc, ld = tmp_path / f"pc{len(made)}", tmp_path / f"ld{len(made)}"
        write_scanner_series(pc, scanner_volume(0), character_set=character_set, patient_name=NAME)
        extra = {"ContrastBolusAgent": "Gadovist", "ContrastBolusVolume": 2.0, **(ld_extra or {})}
        write_scanner_series(ld, scanner_volume(1), character_set=character_set, series_number=8, extra=extra)
        return SeriesSources("case", read_series_headers(pc), read_series_headers(ld), PROVENANCE)

    return make


def synthetic(seed: int = 2) -> sitk.Image:
    return on_pc_grid(scanner_volume(seed).astype(np.float32) * 1.5 + 0.25)


@pytest.mark.parametrize("character_set", ["ISO_IR 100", "ISO_IR 192"])
def test_text_is_written_in_utf8_and_the_source_name_arrives_intact(case, character_set, tmp_path):
    sources = case(character_set)
    write_dicom_series(synthetic(), tmp_path / "sd", DerivedSeries("SYNTHETIC SD"), sources=sources)
    first = read_series(tmp_path / "sd")[0]
    assert first.SpecificCharacterSet == "ISO_IR 192"
    assert str(first.PatientName) == NAME
    raw = (tmp_path / "sd" / "IM00001.dcm").read_bytes()
    assert NAME.encode("utf-8") in raw and NAME.encode("latin-1") not in raw


def test_every_written_series_passes_dciodvfy(case, tmp_path):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    unsupported = on_pc_grid((scanner_volume(3) > 800).astype(np.uint8))
    written = {
        "latin1": (synthetic(), case("ISO_IR 100")),
        "utf8": (synthetic(), case("ISO_IR 192")),
        "nifti_case": (synthetic(), SeriesSources("nifti_case", provenance=PROVENANCE)),
        "map": (unsupported, case("ISO_IR 192")),
    }
    for name, (image, sources) in written.items():
        write_dicom_series(image, tmp_path / name, DerivedSeries("SYNTHETIC"), sources=sources)
        for path in sorted((tmp_path / name).glob("*.dcm")):
            assert dciodvfy_errors(path) == [], path


def test_nifti_cases_get_one_stable_patient_study_and_frame_each(tmp_path):
    for folder, case_id in (("a_sd", "a"), ("a_sdplus", "a"), ("a_rerun", "a"), ("b_sd", "b")):
        write_dicom_series(
            synthetic(), tmp_path / folder, DerivedSeries("SD"), sources=SeriesSources(case_id)
        )
    first = {folder: read_series(tmp_path / folder)[0] for folder in ("a_sd", "a_sdplus", "a_rerun", "b_sd")}
    assert [first[folder].PatientID for folder in first] == ["a", "a", "a", "b"]
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID"):
        uids = [str(first[folder].get(keyword)) for folder in first]
        assert uids[0] == uids[1] == uids[2] != uids[3], keyword
        assert all(len(uid) <= 64 and uid.startswith("2.25.") for uid in uids)
    assert len({str(ds.SeriesInstanceUID) for ds in first.values()}) == 4
    slices = read_series(tmp_path / "a_sd")
    assert len({str(ds.StudyInstanceUID) for ds in slices}) == 1


def test_provenance_and_synthetic_marking(case, tmp_path):
    write_dicom_series(synthetic(), tmp_path / "sd", DerivedSeries("SYNTHETIC SD"), sources=case())
    for dataset in read_series(tmp_path / "sd"):
        assert dataset.Manufacturer == "gdr_toolkit"  # not the scanner's SIEMENS
        assert dataset.ManufacturerModelName == PROVENANCE.model_name
        assert list(dataset.SoftwareVersions) == [f"gdr_toolkit {__version__}", "model abc123def456"]
        assert list(dataset.ImageType) == ["DERIVED", "SECONDARY", "OTHER", "SYNTHETIC"]
        assert "NOT FOR DIAGNOSIS" in dataset.ImageComments
        assert dataset.BurnedInAnnotation == "NO"
        assert {item.CodeValue for item in dataset.DerivationCodeSequence} == {"113085", "113042"}


def test_series_description_over_64_characters_is_refused():
    with pytest.raises(ValueError, match="at most 64|1 to 64"):
        DerivedSeries("X" * 65)


def test_each_slice_references_the_pc_and_ld_slices_at_its_position(case, tmp_path):
    sources = case()
    write_dicom_series(synthetic(), tmp_path / "sd", DerivedSeries("SD"), sources=sources)
    pc_by_z = {float(header.ImagePositionPatient[2]): header for header in sources.pre_contrast}
    ld_by_z = {float(header.ImagePositionPatient[2]): header for header in sources.low_dose}
    for dataset in read_series(tmp_path / "sd"):
        z = float(dataset.ImagePositionPatient[2])
        pc_item, ld_item = dataset.SourceImageSequence
        assert pc_item.ReferencedSOPInstanceUID == pc_by_z[z].SOPInstanceUID
        assert ld_item.ReferencedSOPInstanceUID == ld_by_z[z].SOPInstanceUID
        assert pc_item.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
        referenced = {
            str(series.SeriesInstanceUID): [
                str(item.ReferencedSOPInstanceUID) for item in series.ReferencedInstanceSequence
            ]
            for series in dataset.ReferencedSeriesSequence
        }
        assert referenced == {
            str(pc_by_z[z].SeriesInstanceUID): [str(pc_by_z[z].SOPInstanceUID)],
            str(ld_by_z[z].SeriesInstanceUID): [str(ld_by_z[z].SOPInstanceUID)],
        }


def test_pc_slices_off_the_output_grid_are_not_source_images(case, tmp_path):
    """Output slices 1 mm above PC's (beyond a quarter of the 3 mm spacing): no PC source; LD's nearest
    slice (1 mm below, not 2 mm above) is still referenced."""
    sources = case()
    shifted = synthetic()
    shifted.SetOrigin((ORIGIN_MM[0], ORIGIN_MM[1], ORIGIN_MM[2] + 1.0))
    write_dicom_series(shifted, tmp_path / "sd", DerivedSeries("SD"), sources=sources)
    for index, dataset in enumerate(read_series(tmp_path / "sd")):
        (ld_item,) = dataset.SourceImageSequence
        assert ld_item.ReferencedSOPInstanceUID == sources.low_dose[index].SOPInstanceUID


def test_ld_of_another_study_is_referenced_under_its_study(case, tmp_path):
    sources = case(ld_extra={"StudyInstanceUID": "1.2.3.999"})
    write_dicom_series(synthetic(), tmp_path / "sd", DerivedSeries("SD"), sources=sources)
    first = read_series(tmp_path / "sd")[0]
    (other,) = first.StudiesContainingOtherReferencedInstancesSequence
    assert other.StudyInstanceUID == "1.2.3.999"
    assert other.ReferencedSeriesSequence[0].SeriesInstanceUID == sources.low_dose[0].SeriesInstanceUID


def test_mr_attributes_come_from_pc_or_documented_defaults(case, tmp_path):
    write_dicom_series(synthetic(), tmp_path / "dicom", DerivedSeries("SD"), sources=case())
    write_dicom_series(synthetic(), tmp_path / "nifti", DerivedSeries("SD"), sources=SeriesSources("n"))
    copied, defaulted = read_series(tmp_path / "dicom")[0], read_series(tmp_path / "nifti")[0]
    assert list(copied.ScanningSequence) == ["GR", "IR"] and list(copied.SequenceVariant) == [
        "SK",
        "SP",
        "MP",
    ]
    assert float(copied.RepetitionTime) == 2300 and float(copied.EchoTime) == pytest.approx(2.98)
    assert float(copied.SliceThickness) == 1.0  # PC's thickness, not the 3 mm slice spacing
    assert float(copied.SpacingBetweenSlices) == pytest.approx(3.0)
    assert copied.StudyInstanceUID == case().pre_contrast[0].StudyInstanceUID
    assert defaulted.ScanningSequence == "RM" and defaulted.SequenceVariant == "NONE"
    assert defaulted.PatientPosition == "HFS" and defaulted.BodyPartExamined == "BRAIN"
    assert float(defaulted.SliceThickness) == pytest.approx(3.0)
    for keyword in (
        "RepetitionTime",
        "EchoTime",
        "EchoTrainLength",
        "ScanOptions",
        "PositionReferenceIndicator",
    ):
        assert keyword in defaulted and defaulted[keyword].is_empty, keyword  # Type 2: present, unknown


def test_lossy_compression_of_a_source_is_carried_over(case, tmp_path):
    write_dicom_series(
        synthetic(),
        tmp_path / "sd",
        DerivedSeries("SD"),
        sources=case(ld_extra={"LossyImageCompression": "01"}),
    )
    assert read_series(tmp_path / "sd")[0].LossyImageCompression == "01"


def test_files_are_explicit_vr_little_endian_mr_images(case, tmp_path):
    write_dicom_series(synthetic(), tmp_path / "sd", DerivedSeries("SD"), sources=case())
    dataset = read_series(tmp_path / "sd")[0]
    assert dataset.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert dataset.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"


def test_binary_map_is_stored_as_it_is_with_slope_1(case, tmp_path):
    values = (scanner_volume(3) > 800).astype(np.uint8)
    rescale = write_dicom_series(on_pc_grid(values), tmp_path / "map", DerivedSeries("MAP"), sources=case())
    assert (rescale.slope, rescale.intercept) == (1.0, 0.0)
    slices = read_series(tmp_path / "map")
    assert "RescaleSlope" not in slices[0]
    np.testing.assert_array_equal(np.stack([ds.pixel_array for ds in slices]), values)
    assert (float(slices[0].WindowCenter), float(slices[0].WindowWidth)) == (0.5, 1.0)


def test_window_spans_the_central_99_percent_of_the_values(tmp_path):
    values = np.linspace(0, 1000, 5 * 7 * 6, dtype=np.float32).reshape(5, 7, 6)
    write_dicom_series(on_pc_grid(values), tmp_path / "sd", DerivedSeries("SD"))
    dataset = read_series(tmp_path / "sd")[0]
    assert float(dataset.WindowCenter) == pytest.approx(500, abs=1)
    assert float(dataset.WindowWidth) == pytest.approx(990, abs=2)


@pytest.mark.slow
def test_real_sized_latin1_head_gives_a_conformant_series_with_the_name_intact(real_pair, tmp_path):
    """(~30 s) The BraTS head (240 x 240 x 155) as a Latin-1 scanner series; the synthetic series written
    from its headers keeps the name in UTF-8 in every file, passes dciodvfy, and holds the values."""
    head = sitk.GetArrayFromImage(sitk.ReadImage(str(real_pair.pre_contrast))).astype(np.int16)
    write_scanner_series(tmp_path / "pc", head, character_set="ISO_IR 100", patient_name=NAME)
    write_scanner_series(tmp_path / "ld", head, character_set="ISO_IR 100", series_number=8)
    sources = SeriesSources(
        "real", read_series_headers(tmp_path / "pc"), read_series_headers(tmp_path / "ld")
    )
    values = head.astype(np.float32) * 1.1 + 0.3
    rescale = write_dicom_series(on_pc_grid(values), tmp_path / "sd", DerivedSeries("SD"), sources=sources)
    paths = sorted((tmp_path / "sd").glob("*.dcm"))
    assert len(paths) == head.shape[0]
    names = {str(pydicom.dcmread(path, stop_before_pixels=True).PatientName) for path in paths}
    assert names == {NAME}
    back = np.stack(
        [
            ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            for ds in read_series(tmp_path / "sd")
        ]
    )
    assert np.abs(back - values).max() <= rescale.slope / 2 * 1.001
    if shutil.which("dciodvfy"):
        for path in (paths[0], paths[len(paths) // 2], paths[-1]):
            assert dciodvfy_errors(path) == [], path


def test_burned_in_banner_is_off_by_default_and_white_text_at_the_top_left_when_asked(tmp_path):
    values = np.random.default_rng(4).uniform(100, 900, (2, 160, 170)).astype(np.float32)
    write_dicom_series(on_pc_grid(values), tmp_path / "plain", DerivedSeries("SD"))
    write_dicom_series(on_pc_grid(values), tmp_path / "banner", DerivedSeries("SD", burned_in_banner=True))
    plain, banner = read_series(tmp_path / "plain"), read_series(tmp_path / "banner")
    assert plain[0].BurnedInAnnotation == "NO" and banner[0].BurnedInAnnotation == "YES"
    changed = banner[0].pixel_array != plain[0].pixel_array
    rows, columns = np.nonzero(changed)
    assert 50 < changed.sum() < 0.05 * changed.size
    assert rows.max() < 160 / 8 and columns.min() < 170 / 10  # a line of text in the top-left corner
    top = float(banner[0].WindowCenter) + float(banner[0].WindowWidth) / 2
    burned = banner[1].pixel_array[changed] * float(banner[1].RescaleSlope) + float(
        banner[1].RescaleIntercept
    )
    np.testing.assert_allclose(burned, top, atol=float(banner[1].RescaleSlope))
    np.testing.assert_array_equal(banner[1].pixel_array[~changed], plain[1].pixel_array[~changed])


def test_banner_is_left_out_of_slices_too_small_to_read_it(tmp_path, caplog):
    write_dicom_series(synthetic(), tmp_path / "sd", DerivedSeries("SD", burned_in_banner=True))
    assert read_series(tmp_path / "sd")[0].BurnedInAnnotation == "NO"
    assert "too small for the burned-in banner" in caplog.text
