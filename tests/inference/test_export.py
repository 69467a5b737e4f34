from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.dataset.dicom_io import DerivedSeries, read_dicom_series, write_dicom_series
from gdr_toolkit.dataset.image_io import image_from_array, read_image
from gdr_toolkit.inference.export import ExportOptions, is_case_complete, output_paths, write_prediction
from gdr_toolkit.inference.predictor import CasePrediction

PATIENT = {"0010|0020": "PID-9", "0020|000d": "1.2.826.0.1.3680043.99.2"}


@pytest.fixture
def prediction(tmp_path) -> CasePrediction:
    """A prediction whose PC was read from an oblique DICOM series (contrast = 10 in a cube)."""
    rng = np.random.default_rng(0)
    volume = sitk.GetImageFromArray((rng.random((6, 8, 7)) * 500).astype(np.float32))
    volume.SetSpacing((1.0, 1.2, 2.5))
    volume.SetDirection(sitk.VersorTransform((0.1, 0.0, 0.2), 0.4).GetMatrix())
    write_dicom_series(volume, tmp_path / "pc", DerivedSeries("T1 PRE"), PATIENT)
    pre_contrast = read_image(tmp_path / "pc")
    values = sitk.GetArrayFromImage(pre_contrast)
    contrast = np.zeros_like(values)
    contrast[2:4, 3:6, 3:6] = 10.0
    images = {
        name: image_from_array(array, pre_contrast)
        for name, array in (
            ("sd", values + contrast),
            ("sdplus", values + contrast),
            ("contrast", contrast),
            ("unsupported", (contrast > 5).astype(np.uint8)),
            ("pc", values),
        )
    }
    return CasePrediction("case", images["sd"], images["sdplus"], images["contrast"], None, images["pc"],
                          images["pc"], {}, unsupported=images["unsupported"])  # fmt: skip


def test_dicom_output_is_a_series_per_image_in_pc_geometry(prediction, tmp_path):
    options = ExportOptions(save_contrast_signal=True, save_qc_picture=False, output_format="dicom")
    write_prediction(prediction, tmp_path / "out", options)
    assert is_case_complete(tmp_path / "out", "case", options)
    expected_images = {
        "sd": prediction.sd,
        "sdplus": prediction.sdplus,
        "contrast": prediction.contrast_signal,
        "unsupported": prediction.unsupported,
    }
    paths = output_paths(tmp_path / "out", "case", options)
    assert paths["summary"].is_file()
    for kind, expected in expected_images.items():
        path = paths[kind]
        series = read_dicom_series(path)
        assert series.GetDirection() == pytest.approx(expected.GetDirection(), abs=1e-6)
        assert series.GetOrigin() == pytest.approx(expected.GetOrigin(), abs=1e-4)
        value_range = float(np.ptp(sitk.GetArrayViewFromImage(expected)))
        error = np.abs(sitk.GetArrayFromImage(series) - sitk.GetArrayFromImage(expected)).max()
        assert error <= value_range / 65534 / 2 * 1.001 + 1e-4
        assert series.GetMetaData("0010|0020") == "PID-9"
        assert series.GetMetaData("0020|000d") == PATIENT["0020|000d"]
        assert "SYNTHETIC" in sitk.ReadImage(str(next(path.glob("*.dcm")))).GetMetaData("0008|103e")


def test_unknown_output_format_is_refused():
    with pytest.raises(ValueError, match="output_format"):
        ExportOptions(output_format="analyze")  # type: ignore[arg-type]


def test_dicom_series_numbers_follow_pc_plus_the_offset(prediction, tmp_path):
    """PC's series (written by the fixture with the default number 1000) + offset 50, then one per kind."""
    options = ExportOptions(save_contrast_signal=True, save_qc_picture=False, output_format="dicom",
                            dicom_series_offset=50)  # fmt: skip
    write_prediction(prediction, tmp_path / "out", options)
    numbers = {kind: read_dicom_series(tmp_path / "out" / f"case_{kind}").GetMetaData("0020|0011")
               for kind in ("sd", "sdplus", "contrast", "unsupported")}  # fmt: skip
    assert numbers == {"sd": "1050", "sdplus": "1051", "contrast": "1052", "unsupported": "1054"}
    with pytest.raises(ValueError, match="dicom_series_offset must be >= 1"):
        ExportOptions(dicom_series_offset=0)


def test_dicom_outputs_of_a_nifti_case_share_one_patient_and_study(prediction, tmp_path):
    plain = sitk.Image(prediction.sd.GetSize(), sitk.sitkFloat32)
    plain.CopyInformation(prediction.sd)  # no DICOM tags: as read from NIfTI
    nifti = replace(prediction, case_id="case_from_nifti", pre_contrast=plain)
    options = ExportOptions(save_qc_picture=False, output_format="dicom")
    write_prediction(nifti, tmp_path / "out", options)
    series = [read_dicom_series(tmp_path / "out" / f"case_from_nifti_{kind}") for kind in ("sd", "sdplus")]
    for key in ("0010|0020", "0020|000d", "0020|0052"):
        assert series[0].GetMetaData(key) == series[1].GetMetaData(key), key
    assert series[0].GetMetaData("0010|0020") == "case_from_nifti"
    assert series[0].GetMetaData("0020|000e") != series[1].GetMetaData("0020|000e")


def test_banner_goes_into_image_series_but_not_into_the_unsupported_map():
    from gdr_toolkit.dataset.dicom_derived_series import SeriesSources
    from gdr_toolkit.inference.export import dicom_series

    sources = SeriesSources("case")
    assert dicom_series("sd", sources, 1000, banner=True).burned_in_banner
    assert not dicom_series("unsupported", sources, 1000, banner=True).burned_in_banner
    assert not dicom_series("sd", sources, 1000).burned_in_banner


def test_a_failed_image_write_leaves_the_case_incomplete(prediction, tmp_path, monkeypatch):
    """The images are written in parallel threads; when one fails the error reaches the caller and
    neither the summary nor the QC picture (the files written last) exist, so a rerun predicts the case."""
    from gdr_toolkit.inference import export

    def failing_write(image, path, compress=True):
        if path.name.endswith("_sdplus.nii.gz"):
            raise OSError(f"{path}: disk full")
        written_by_default(image, path, compress)

    written_by_default = export.write_image_atomic
    monkeypatch.setattr(export, "write_image_atomic", failing_write)
    options = ExportOptions()
    with pytest.raises(OSError, match="disk full"):
        write_prediction(prediction, tmp_path / "out", options)
    paths = output_paths(tmp_path / "out", "case", options)
    assert paths["sd"].exists() and not paths["sdplus"].exists()
    assert not paths["summary"].exists() and not paths["qc"].exists() and not paths["report"].exists()
    assert not is_case_complete(tmp_path / "out", "case", options)
