"""The headers of a DICOM series folder, read with pydicom (no pixel data; documentation/dicom.md).

Used on the output side: the patient, study, acquisition and reference attributes a derived series copies
(``dicom_derived_series.py``) and the scanner metadata read from the low-dose series
(``dicom_metadata.py``). pydicom decodes every text value with the file's own SpecificCharacterSet, so a
Latin-1 or UTF-8 patient name arrives as the right Python string. Reading the series as a volume (and
validating it) is ``dicom_io.read_dicom_series``'s job, not this module's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

logger = logging.getLogger(__name__)


def read_series_headers(folder: Path | str) -> tuple[Dataset, ...]:
    """The headers of the DICOM files in ``folder`` (not recursive), sorted along the slice normal.

    Files that are not DICOM (no preamble and no known group) are skipped; hidden files too. Files
    without a position (e.g. an Enhanced MR file) keep their name order after the positioned ones.

    Returns:
        One pydicom dataset per file (pixel data not read), the file path in ``filename``; empty when
        ``folder`` is not a directory or holds no DICOM file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return ()
    headers = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
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
