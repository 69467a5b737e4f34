"""Case metadata read from a low-dose series' DICOM headers (field strength, agent, dose fraction)."""

from __future__ import annotations

import pytest
from scanner_series import scanner_volume, write_scanner_series

from gdr_toolkit.dataset.dicom_metadata import HeaderMetadataError, match_agent, metadata_from_series

# PatientWeight 80 kg (scanner_series); standard doses: gadobutrol 0.1 mL/kg (1.0 mmol/mL at 0.1 mmol/kg),
# gadoterate 0.2 mL/kg (0.5 mmol/mL at 0.1 mmol/kg), gadopiclenol 0.1 mL/kg (0.5 mmol/mL at 0.05 mmol/kg).


@pytest.mark.parametrize(
    ("agent_text", "volume_ml", "generic", "dose_fraction"),
    [
        ("GADOVIST 1.0", 2.0, "gadobutrol", 2.0 / (80 * 0.1)),
        ("15 ml Dotarem", 4.0, "gadoterate", 4.0 / (80 * 0.2)),
        ("gadoteric acid", 8.0, "gadoterate", 8.0 / (80 * 0.2)),
        ("Elucirem", 2.4, "gadopiclenol", 2.4 / (80 * 0.1)),
    ],
)
def test_field_agent_and_dose_come_from_the_ld_headers(
    tmp_path, agent_text, volume_ml, generic, dose_fraction
):
    extra = {"ContrastBolusAgent": agent_text, "ContrastBolusVolume": volume_ml}
    write_scanner_series(tmp_path / "ld", scanner_volume(), extra=extra)
    metadata = metadata_from_series(tmp_path / "ld")
    assert metadata.field_strength_t == 3.0
    assert metadata.contrast_agent == generic
    assert metadata.dose_fraction == pytest.approx(dose_fraction, rel=1e-9)
    assert metadata.sequence == {"repetition_time_ms": 2300.0, "echo_time_ms": 2.98, "flip_angle_deg": 9.0}


def test_missing_attributes_are_named(tmp_path):
    write_scanner_series(tmp_path / "ld", scanner_volume(), extra={"ContrastBolusAgent": "Gadovist"})
    with pytest.raises(HeaderMetadataError, match="ld: the DICOM headers lack ContrastBolusVolume"):
        metadata_from_series(tmp_path / "ld")


def test_a_full_dose_is_refused_as_not_low(tmp_path):
    extra = {"ContrastBolusAgent": "Gadovist", "ContrastBolusVolume": 8.0}  # 8 mL = 0.1 mL/kg * 80 kg
    write_scanner_series(tmp_path / "ld", scanner_volume(), extra=extra)
    with pytest.raises(HeaderMetadataError, match="dose_fraction .* got 1.0"):
        metadata_from_series(tmp_path / "ld")


def test_unknown_or_ambiguous_agent_text_is_refused(tmp_path):
    assert match_agent("Magnevist") is None
    assert match_agent("gadovist or dotarem") is None
    extra = {"ContrastBolusAgent": "Magnevist", "ContrastBolusVolume": 2.0}
    write_scanner_series(tmp_path / "ld", scanner_volume(), extra=extra)
    with pytest.raises(HeaderMetadataError, match="'Magnevist' names no"):
        metadata_from_series(tmp_path / "ld")


def test_folder_without_dicom_files_is_an_error(tmp_path):
    (tmp_path / "ld").mkdir()
    with pytest.raises(HeaderMetadataError, match="no DICOM file"):
        metadata_from_series(tmp_path / "ld")
