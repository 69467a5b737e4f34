"""Scanner-like MR series written with pydicom, one file per slice (or one Enhanced MR file), for the tests
of DICOM input. Also imported by tests/cli and tests/inference (put this folder on sys.path).

The tags are those a 3 T scanner's T1 MPRAGE export carries (SOP class, modality, patient, study, series,
frame of reference, acquisition parameters, geometry). Voxel values encode their slice index
(``slice_marker``), so a test can tell where each slice landed.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
REAL_SIZE = (112, 256, 256)  # slices, rows, columns: a clinical 3D T1 at about 1 mm


@dataclass(frozen=True)
class Patient:
    """Patient, study and frame of reference of a series."""

    patient_id: str = "PAT-0042"
    name: str = "DOE^JANE"
    birth_date: str = "19700101"
    study_uid: str = "1.2.826.0.1.3680043.8.498.1"
    frame_uid: str = "1.2.826.0.1.3680043.8.498.2"
    charset: str = "ISO_IR 192"


@dataclass(frozen=True)
class SeriesGeometry:
    """Grid of a series: spacing (x, y, z) mm, origin (first pixel of slice 0) mm, row/column cosines."""

    spacing_mm: tuple[float, float, float] = (0.9375, 0.9375, 1.2)
    origin_mm: tuple[float, float, float] = (-120.0, -110.0, -60.0)
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])

    def position(self, index: int) -> list[float]:
        return [float(value) for value in np.add(self.origin_mm, index * self.spacing_mm[2] * self.normal())]


OBLIQUE = SeriesGeometry(
    orientation=(0.9848077530, 0.0, -0.1736481777, 0.0, 1.0, 0.0)  # 10 degrees about y
)


def slice_marker(index: int) -> int:
    """The value of the bright ellipsoid in slice ``index`` (background is 0)."""
    return 100 + 5 * index


def head_volume(shape: tuple[int, int, int] = REAL_SIZE) -> np.ndarray:
    """int16 (slices, rows, columns): an ellipsoidal 'head' whose value in slice k is ``slice_marker(k)``."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    inside = ((z - shape[0] / 2) / (shape[0] / 2.2)) ** 2 + ((y - shape[1] / 2) / (shape[1] / 2.6)) ** 2 + (
        (x - shape[2] / 2) / (shape[2] / 3.0)
    ) ** 2 <= 1
    markers = np.array([slice_marker(index) for index in range(shape[0])], dtype=np.int16)[:, None, None]
    return (inside * markers).astype(np.int16)


def _common(patient: Patient, series_uid: str, description: str, modality: str) -> Dataset:
    """Patient, study, series, equipment and acquisition tags shared by every file of a series."""
    ds = Dataset()
    ds.SpecificCharacterSet = patient.charset
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.Modality = modality
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = "F"
    ds.PatientWeight = "70"
    ds.StudyInstanceUID = patient.study_uid
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240312", "101500", "1", "ACC123"
    ds.StudyDescription = "BRAIN^ROUTINE"
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber, ds.SeriesDescription = 5, description
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = patient.frame_uid, ""
    ds.Manufacturer, ds.ManufacturerModelName = "SIEMENS", "Prisma"
    ds.MagneticFieldStrength = "3"
    ds.ScanningSequence, ds.SequenceVariant = ["GR", "IR"], ["SK", "SP", "MP"]
    ds.ScanOptions, ds.MRAcquisitionType = "IR", "3D"
    ds.RepetitionTime, ds.EchoTime, ds.InversionTime, ds.FlipAngle = "2300", "2.98", "900", "9"
    ds.EchoTrainLength, ds.PatientPosition = 1, "HFS"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.WindowCenter, ds.WindowWidth = "300", "600"
    return ds


def _file_meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def slice_datasets(
    volume: np.ndarray,
    patient: Patient = Patient(),
    geometry: SeriesGeometry = SeriesGeometry(),
    description: str = "T1_MPRAGE_PRE",
    modality: str = "MR",
    tags: Mapping[str, object] | None = None,
) -> list[Dataset]:
    """One classic MR data set per slice of ``volume`` (slices, rows, columns), in slice order; ``tags``
    (keyword -> value) are set last on every slice, over the defaults."""
    series_uid = generate_uid()
    datasets = []
    for index, pixels in enumerate(volume):
        ds = _common(patient, series_uid, description, modality)
        ds.SOPClassUID, ds.SOPInstanceUID = MR_IMAGE_STORAGE, generate_uid()
        ds.file_meta = _file_meta(MR_IMAGE_STORAGE, ds.SOPInstanceUID)
        ds.InstanceNumber, ds.AcquisitionNumber = index + 1, 1
        ds.ContentDate, ds.ContentTime = "20240312", "102000"
        ds.ImagePositionPatient = geometry.position(index)
        ds.ImageOrientationPatient = list(geometry.orientation)
        ds.SliceLocation = f"{float(np.dot(geometry.position(index), geometry.normal())):.4f}"
        ds.PixelSpacing = [geometry.spacing_mm[1], geometry.spacing_mm[0]]
        ds.SliceThickness = ds.SpacingBetweenSlices = geometry.spacing_mm[2]
        ds.Rows, ds.Columns = pixels.shape
        ds.PixelData = np.ascontiguousarray(pixels, dtype=np.int16).tobytes()
        for keyword, value in (tags or {}).items():
            setattr(ds, keyword, value)
        datasets.append(ds)
    return datasets


def write_mr_series(folder: Path, volume: np.ndarray, **settings: object) -> list[Path]:
    """Write ``slice_datasets(volume, **settings)`` as ``folder/IM0001.dcm`` ...; the paths in slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, ds in enumerate(slice_datasets(volume, **settings)):  # type: ignore[arg-type]
        paths.append(folder / f"IM{index + 1:04d}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def write_dicomdir_series(folder: Path, volume: np.ndarray, **settings: object) -> None:
    """The same series as a DICOM file set: ``folder/DICOMDIR`` and the files in pydicom's subfolders."""
    file_set = FileSet()
    for ds in slice_datasets(volume, **settings):  # type: ignore[arg-type]
        file_set.add(ds)
    file_set.write(folder)


def write_enhanced_mr(
    path: Path,
    volume: np.ndarray,
    patient: Patient = Patient(),
    geometry: SeriesGeometry = SeriesGeometry(),
    frame_order: list[int] | None = None,
) -> None:
    """One Enhanced MR Image Storage file with a frame per slice (stored in ``frame_order``, default
    ascending), geometry in the per-frame Plane Position and shared Plane Orientation / Pixel Measures."""
    order = frame_order if frame_order is not None else list(range(len(volume)))
    ds = _common(patient, generate_uid(), "T1_MPRAGE_PRE_ENHANCED", "MR")
    ds.SOPClassUID, ds.SOPInstanceUID = ENHANCED_MR_IMAGE_STORAGE, generate_uid()
    ds.file_meta = _file_meta(ENHANCED_MR_IMAGE_STORAGE, ds.SOPInstanceUID)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.InstanceNumber, ds.NumberOfFrames = 1, len(order)
    ds.ContentDate, ds.ContentTime = "20240312", "102000"
    ds.AcquisitionDateTime = datetime.datetime(2024, 3, 12, 10, 20).strftime("%Y%m%d%H%M%S")
    ds.Rows, ds.Columns = volume.shape[1:]
    shared = Dataset()
    orientation, measures = Dataset(), Dataset()
    orientation.ImageOrientationPatient = list(geometry.orientation)
    measures.PixelSpacing = [geometry.spacing_mm[1], geometry.spacing_mm[0]]
    measures.SliceThickness = geometry.spacing_mm[2]
    shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = (
        Sequence([orientation]),
        Sequence([measures]),
    )
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for index in order:
        group, position = Dataset(), Dataset()
        position.ImagePositionPatient = geometry.position(index)
        group.PlanePositionSequence = Sequence([position])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = np.ascontiguousarray(volume[order], dtype=np.int16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def other_patient(patient: Patient = Patient()) -> Patient:
    """Another patient in another study (a mixed-up series)."""
    return replace(
        patient, patient_id="PAT-0777", name="ROE^RICHARD", birth_date="19551231",
        study_uid="1.2.826.0.1.3680043.8.498.77", frame_uid="1.2.826.0.1.3680043.8.498.78",
    )  # fmt: skip
