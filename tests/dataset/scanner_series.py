"""A Siemens-like MPRAGE with the patient name in a chosen character set, for the tests of what the toolkit
writes from a scanner's series: :mod:`mr_series_builder`'s slices on a small axial grid (slices 3 mm
apart, 1 mm thick), with an 80 kg patient (for dose fractions) and optional extra tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mr_series_builder import Patient, SeriesGeometry, write_mr_series

STUDY_UID = "1.2.826.0.1.3680043.8.498.1001"
FRAME_UID = "1.2.826.0.1.3680043.8.498.1002"
SPACING_MM = (0.9, 1.1, 3.0)  # x, y, z (slices 3 mm apart, 1 mm thick)
ORIGIN_MM = (-40.0, -60.0, -20.0)


def scanner_volume(seed: int = 0) -> np.ndarray:
    """(5, 7, 6) int16 values in [0, 1000) (z, y, x)."""
    return np.random.default_rng(seed).integers(0, 1000, (5, 7, 6)).astype(np.int16)


def write_scanner_series(
    folder: Path,
    volume: np.ndarray,
    *,
    character_set: str = "ISO_IR 192",
    patient_name: str = "Müller^Jürgen",
    series_number: int = 7,
    description: str = "t1_mprage_sag",
    extra: dict[str, object] | None = None,
) -> list[Path]:
    """One file per slice, axial, slice k at ORIGIN + k * 3 mm along z; ``extra`` tags are set last.

    Returns:
        The files written, in slice order.
    """
    patient = Patient(
        patient_id="PID-4711", name=patient_name, birth_date="19600101",
        study_uid=STUDY_UID, frame_uid=FRAME_UID, charset=character_set,
    )  # fmt: skip
    tags = {
        "SeriesNumber": series_number, "SliceThickness": 1.0, "PatientSex": "M", "PatientWeight": 80,
        "BodyPartExamined": "HEAD", **(extra or {}),
    }  # fmt: skip
    geometry = SeriesGeometry(spacing_mm=SPACING_MM, origin_mm=ORIGIN_MM)
    return write_mr_series(
        folder, volume, patient=patient, geometry=geometry, description=description, tags=tags
    )
