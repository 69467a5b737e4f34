"""DICOM headers read with pydicom: which files make up a series folder, and each file's frames.

A series folder is either a folder of DICOM files (hidden files skipped, subfolders ignored) or a folder
holding a ``DICOMDIR``, whose referenced image files are used. Each file is read completely once, so a
truncated file is found (pydicom reads a file cut inside its pixel data without complaint, with the pixel
data short or absent; the length is checked here). Classic MR files give one frame each; an Enhanced MR
file (multi-frame) gives one frame per item of its Per-frame Functional Groups, with the geometry of the
Shared Functional Groups where a frame has none of its own. Text values are decoded with the file's
SpecificCharacterSet (pydicom supports every defined term: ISO_IR 100, ISO_IR 192, ISO 2022 ...).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.fileset import FileSet
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

logger = logging.getLogger(__name__)
DICOMDIR = "DICOMDIR"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
LEGACY_CONVERTED_ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.4"
MR_SOP_CLASSES = {
    MR_IMAGE_STORAGE: "MR Image Storage",
    ENHANCED_MR_IMAGE_STORAGE: "Enhanced MR Image Storage",
    LEGACY_CONVERTED_ENHANCED_MR_IMAGE_STORAGE: "Legacy Converted Enhanced MR Image Storage",
}


class DicomSeriesError(ValueError):
    """A series folder or file breaks a rule of documentation/dicom.md; the message names the folder or
    file, the rule and the values that break it, on one line."""


@dataclass(frozen=True)
class Frame:
    """One 2D image of a series and where it lies.

    Attributes:
        path: the file holding it.
        frame_index: 0-based frame in a multi-frame file; None for a single-frame file.
        position_mm: ImagePositionPatient, the centre of the first pixel (x, y, z) in LPS, mm.
        orientation: ImageOrientationPatient, row then column direction cosines (6 values).
        pixel_spacing_mm: PixelSpacing (between rows, between columns) in mm.
        rows: Rows, number of pixel rows (y).
        columns: Columns, number of pixel columns (x).
    """

    path: Path
    frame_index: int | None
    position_mm: tuple[float, float, float]
    orientation: tuple[float, ...]
    pixel_spacing_mm: tuple[float, float]
    rows: int
    columns: int

    @property
    def name(self) -> str:
        """The file name, with the frame number (1-based) for a multi-frame file."""
        return (
            self.path.name if self.frame_index is None else f"{self.path.name} frame {self.frame_index + 1}"
        )


@dataclass(frozen=True)
class SeriesFile:
    """What the validation needs from one file: class, series, identity tags and frames.

    Attributes:
        path: the file.
        dataset: its pydicom data set (pixel data kept for a multi-frame file only).
        sop_class_uid: SOPClassUID.
        modality: Modality.
        series_uid: SeriesInstanceUID.
        frames: its frames (one for a classic image).
    """

    path: Path
    dataset: Dataset
    sop_class_uid: str
    modality: str
    series_uid: str
    frames: tuple[Frame, ...]

    @property
    def multi_frame(self) -> bool:
        return "PerFrameFunctionalGroupsSequence" in self.dataset


def series_file_paths(folder: Path) -> list[Path]:
    """The files of a series folder: those a ``DICOMDIR`` references, else every visible file in it."""
    folder = Path(folder)
    if (folder / DICOMDIR).is_file():
        try:
            file_set = FileSet(pydicom.dcmread(folder / DICOMDIR))
        except Exception as error:  # noqa: BLE001 (pydicom raises many types for a broken DICOMDIR)
            raise DicomSeriesError(f"{folder / DICOMDIR}: not a readable DICOMDIR ({error})") from error
        return sorted(Path(instance.path) for instance in file_set)
    return sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))


def read_series_file(path: Path) -> SeriesFile:
    """Read one file completely and check that it is a whole DICOM image.

    Raises:
        DicomSeriesError: not DICOM, unreadable, without pixel data or geometry, or truncated (the pixel
            data shorter than Rows x Columns x frames x bytes per sample).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about benign deviations; the checks follow
            dataset = pydicom.dcmread(path)
    except InvalidDicomError as error:
        raise DicomSeriesError(f"{path}: not a DICOM file (rule: every file readable)") from error
    except Exception as error:  # noqa: BLE001 (pydicom raises many types for a damaged file)
        raise DicomSeriesError(
            f"{path}: unreadable DICOM file ({type(error).__name__}) (rule: every file readable)"
        ) from error
    _check_pixel_data(path, dataset)
    try:
        frames = _frames(path, dataset)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
        raise DicomSeriesError(
            f"{path}: image geometry missing or malformed (ImagePositionPatient, ImageOrientationPatient, "
            f"PixelSpacing, Rows, Columns) (rule: every file readable)"
        ) from error
    declared = int(dataset.get("NumberOfFrames", 1) or 1)
    if len(frames) != declared:
        raise DicomSeriesError(
            f"{path}: NumberOfFrames is {declared} but {len(frames)} frame(s) are described "
            f"(rule: every file readable)"
        )
    if "PerFrameFunctionalGroupsSequence" not in dataset:
        del dataset.PixelData  # GDCM reads the pixels of a classic file: not kept twice in memory
    return SeriesFile(
        path, dataset, str(dataset.get("SOPClassUID", "")), str(dataset.get("Modality", "")),
        str(dataset.get("SeriesInstanceUID", "")), frames,
    )  # fmt: skip


def _check_pixel_data(path: Path, dataset: Dataset) -> None:
    if "PixelData" not in dataset:
        raise DicomSeriesError(
            f"{path}: no pixel data (truncated or not an image) (rule: every file readable)"
        )
    if dataset.file_meta.TransferSyntaxUID.is_compressed:
        return  # encapsulated: the decoder reports damage
    samples = int(dataset.get("SamplesPerPixel", 1)) * int(dataset.get("NumberOfFrames", 1) or 1)
    expected = int(dataset.Rows) * int(dataset.Columns) * samples * ((int(dataset.BitsAllocated) + 7) // 8)
    received = len(dataset.PixelData)
    if received < expected:
        raise DicomSeriesError(
            f"{path}: truncated: pixel data holds {received} of {expected} bytes (rule: every file readable)"
        )


def _frames(path: Path, dataset: Dataset) -> tuple[Frame, ...]:
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    if "PerFrameFunctionalGroupsSequence" not in dataset:
        return (
            Frame(
                path, None, _floats(dataset.ImagePositionPatient, 3), _floats(dataset.ImageOrientationPatient, 6),
                _floats(dataset.PixelSpacing, 2), rows, columns,
            ),
        )  # fmt: skip
    shared = dataset.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
    frames = []
    for index, per_frame in enumerate(dataset.PerFrameFunctionalGroupsSequence):
        position = _group_value(per_frame, shared, "PlanePositionSequence", "ImagePositionPatient")
        orientation = _group_value(per_frame, shared, "PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = _group_value(per_frame, shared, "PixelMeasuresSequence", "PixelSpacing")
        frames.append(
            Frame(
                path, index, _floats(position, 3), _floats(orientation, 6), _floats(spacing, 2), rows, columns
            )
        )
    return tuple(frames)


def _group_value(per_frame: Dataset, shared: Dataset, sequence: str, keyword: str) -> Any:
    """A functional group's attribute for one frame: its own group first, else the shared one."""
    for groups in (per_frame, shared):
        if sequence in groups and keyword in groups[sequence][0]:
            return groups[sequence][0][keyword].value
    raise KeyError(f"{sequence} > {keyword}")


def _floats(values: Any, count: int) -> Any:
    numbers = tuple(float(value) for value in values)
    if len(numbers) != count:
        raise ValueError(f"expected {count} values, got {len(numbers)}")
    return numbers


def tag_text(dataset: Dataset, key: str) -> str | None:
    """The value of tag ``gggg|eeee`` as text (decoded with the file's character set), None when absent.

    Multiple values are joined with a backslash, as DICOM stores them.
    """
    group, element = (int(part, 16) for part in key.split("|"))
    if (group, element) not in dataset:
        return None
    value = dataset[group, element].value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(item) for item in value)
    if isinstance(value, PersonName):
        return str(value).strip()
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").strip("\x00 ")
    return str(value).strip()


def read_series_headers(folder: Path | str) -> tuple[Dataset, ...]:
    """The headers of a series folder's files (pixel data not read), sorted along the slice normal.

    Used on the output side (the attributes a derived series copies, the metadata read from LD's headers);
    the series itself is validated by ``dicom_series``. Files that are not DICOM are skipped. Files without a
    position (an Enhanced MR file) keep their name order after the positioned ones.

    Returns:
        One pydicom dataset per file, its path in ``filename``; empty when ``folder`` is not a directory.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return ()
    headers = []
    for path in series_file_paths(folder):
        try:
            headers.append(pydicom.dcmread(path, stop_before_pixels=True))
        except (InvalidDicomError, OSError, ValueError, EOFError) as error:
            logger.debug("%s: not read as DICOM (%s)", path, error)
    return tuple(sorted(headers, key=_position_along_normal))


def slice_position(header: Dataset) -> np.ndarray | None:
    """ImagePositionPatient (mm, LPS) of a single-frame header, or None when absent."""
    position = header.get("ImagePositionPatient")
    return None if position is None or len(position) != 3 else np.asarray(position, dtype=np.float64)


def slice_normal(header: Dataset) -> np.ndarray | None:
    """Unit normal (row x column direction cosines) of a single-frame header, or None when absent."""
    orientation = header.get("ImageOrientationPatient")
    if orientation is None or len(orientation) != 6:
        return None
    normal = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
    length = float(np.linalg.norm(normal))
    return normal / length if length > 0 else None


def _position_along_normal(header: Dataset) -> tuple[int, float]:
    position, normal = slice_position(header), slice_normal(header)
    if position is None or normal is None:
        return (1, 0.0)
    return (0, float(position @ normal))
