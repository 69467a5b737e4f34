"""Scanner-like MR series written with pydicom directly (not with the toolkit's writer), for the tests of
what the toolkit writes from them: a Siemens-like MPRAGE with the patient name in a chosen character set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

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
) -> list[Dataset]:
    """One file per slice, axial, slice k at ORIGIN + k * 3 mm along z; returns the datasets written."""
    folder.mkdir(parents=True)
    series_uid = generate_uid()
    written = []
    for index, pixels in enumerate(volume):
        dataset = Dataset()
        dataset.SpecificCharacterSet = character_set
        dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        dataset.SOPInstanceUID = generate_uid()
        dataset.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        dataset.Modality, dataset.Manufacturer, dataset.ManufacturerModelName = "MR", "SIEMENS", "Prisma"
        dataset.PatientName, dataset.PatientID = patient_name, "PID-4711"
        dataset.PatientBirthDate, dataset.PatientSex, dataset.PatientWeight = "19600101", "M", 80
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = STUDY_UID, series_uid
        dataset.FrameOfReferenceUID, dataset.PositionReferenceIndicator = FRAME_UID, ""
        dataset.StudyDate, dataset.StudyTime, dataset.StudyID = "20240102", "101112", "S1"
        dataset.AccessionNumber, dataset.ReferringPhysicianName = "ACC1", ""
        dataset.StudyDescription, dataset.SeriesDescription = "Kopf^Routine", description
        dataset.SeriesNumber, dataset.InstanceNumber = series_number, index + 1
        dataset.PatientPosition, dataset.BodyPartExamined = "HFS", "HEAD"
        dataset.ScanningSequence, dataset.SequenceVariant = ["GR", "IR"], ["SK", "SP", "MP"]
        dataset.ScanOptions, dataset.MRAcquisitionType = "IR", "3D"
        dataset.RepetitionTime, dataset.EchoTime, dataset.InversionTime = 2300, 2.98, 900
        dataset.EchoTrainLength, dataset.FlipAngle, dataset.MagneticFieldStrength = 1, 9, 3
        dataset.SliceThickness = 1.0
        dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        dataset.ImagePositionPatient = [ORIGIN_MM[0], ORIGIN_MM[1], ORIGIN_MM[2] + index * SPACING_MM[2]]
        dataset.PixelSpacing = [SPACING_MM[1], SPACING_MM[0]]
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        dataset.Rows, dataset.Columns = pixels.shape
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = (
            16,
            16,
            15,
            1,
        )
        for keyword, value in (extra or {}).items():
            setattr(dataset, keyword, value)
        dataset.PixelData = pixels.astype("<i2").tobytes()
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        pydicom.dcmwrite(folder / f"slice{index:03d}.dcm", dataset, enforce_file_format=True)
        written.append(dataset)
    return written
