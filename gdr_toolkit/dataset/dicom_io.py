"""DICOM series in through SimpleITK's GDCM reader, out through pydicom (documentation/dicom.md).

Reading: a folder holding exactly one series, validated first (``dicom_series``: every file whole, MR,
slices evenly spaced, geometry checked); the patient, study and frame-of-reference tags of its first slice,
decoded with its character set, travel with the returned image in its metadata dictionary (keys ``gggg|eeee``), so
that a series derived from it later (:func:`write_dicom_series`) keeps patient and study.

Writing (pydicom, MR Image Storage, explicit VR little endian, UTF-8): one file per slice, float values
stored as int16 with Rescale Slope/Intercept chosen from the image's range (absolute error <= slope / 2,
:func:`rescale_for`; integer maps stored as they are, slope 1), new UIDs under the UUID-derived root
``2.25`` (ISO/IEC 9834-8, no registration needed), the whole series written into a temporary folder and
renamed into place. The attributes (identity, provenance, references, MR defaults) come from
``dicom_derived_series.py``.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from gdr_toolkit.dataset.dicom_banner import banner_mask
from gdr_toolkit.dataset.dicom_derived_series import (
    MAX_LONG_STRING,
    SeriesSources,
    add_slice_references,
    nearest_slices,
    series_dataset,
)
from gdr_toolkit.dataset.dicom_series import read_validated_series

logger = logging.getLogger(__name__)

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SOURCE_SERIES_KEY = "0020|000e"
# Copied from the reference series into every derived slice (patient, study, frame of reference, scanner).
COPIED_TAGS = {
    "0010|0010": "PatientName",
    "0010|0020": "PatientID",
    "0010|0030": "PatientBirthDate",
    "0010|0040": "PatientSex",
    "0020|000d": "StudyInstanceUID",
    "0008|0020": "StudyDate",
    "0008|0030": "StudyTime",
    "0008|0050": "AccessionNumber",
    "0008|0090": "ReferringPhysicianName",
    "0008|1030": "StudyDescription",
    "0020|0010": "StudyID",
    "0020|0052": "FrameOfReferenceUID",
    "0018|0087": "MagneticFieldStrength",
    "0008|0070": "Manufacturer",
}
READ_TAGS = {**COPIED_TAGS, SOURCE_SERIES_KEY: "SeriesInstanceUID", "0020|0011": "SeriesNumber"}
STORED_MIN, STORED_MAX = -32767, 32767  # int16 range used (symmetric, -32768 unused)
DECIMAL_STRING_DIGITS = 10  # DS values are at most 16 characters


def new_uid() -> str:
    """A new UID ``2.25.<uuid4 as integer>`` (at most 44 characters, digits and dots)."""
    return f"2.25.{uuid.uuid4().int}"


def dicom_tags(image: sitk.Image) -> dict[str, str]:
    """The DICOM tags (``gggg|eeee`` keys) an image carries in its metadata dictionary."""
    return {key: image.GetMetaData(key) for key in image.GetMetaDataKeys() if _is_tag(key)}


def _is_tag(key: str) -> bool:
    return len(key) == 9 and key[4] == "|" and all(c in "0123456789abcdefABCDEF" for c in key[:4] + key[5:])


def read_dicom_series(folder: Path | str) -> sitk.Image:
    """Read the one DICOM series in ``folder`` after validating it (``dicom_series``; rescale applied).

    The folder may hold the files of one series or a DICOMDIR referencing them; classic MR and Enhanced
    (multi-frame) MR are read. Text tags are decoded with the series' SpecificCharacterSet (pydicom).

    Returns:
        3D image (float32 when the series is rescaled, else its stored integer type) in LPS, with the
        :data:`READ_TAGS` of its first file in the metadata dictionary.

    Raises:
        DicomSeriesError (a ValueError): the folder holds no DICOM series, several series (listed with
            their descriptions), or a series that breaks a rule of documentation/dicom.md (unreadable or
            truncated file, not MR, missing or duplicate slice, uneven spacing, tilt, mixed geometry).
    """
    return read_validated_series(folder, READ_TAGS)


@dataclass(frozen=True)
class Rescale:
    """value = stored * slope + intercept, stored in [-32767, 32767] (int16); max error slope / 2."""

    slope: float
    intercept: float


def rescale_for(values: np.ndarray) -> Rescale:
    """Slope and intercept mapping ``values``' range onto the int16 range, as their DICOM strings read back.

    An integer array within the int16 range (e.g. a 0/1 map) and a constant image get slope 1 (an
    integer array then intercept 0: stored values are the values). Float values are rounded to 10
    significant digits first (the Decimal String that is written), so the quantisation uses what a
    reader will use.
    """
    low, high = float(np.min(values)), float(np.max(values))
    if np.issubdtype(values.dtype, np.integer) and STORED_MIN <= low and high <= STORED_MAX:
        return Rescale(1.0, 0.0)
    slope = (high - low) / (STORED_MAX - STORED_MIN) if high > low else 1.0
    intercept = (high + low) / 2
    as_written = [float(f"{value:.{DECIMAL_STRING_DIGITS}g}") for value in (slope, intercept)]
    return Rescale(*as_written)


SYNTHETIC_COMMENT = (
    "SYNTHETIC IMAGE computed by gdr_toolkit (deep learning) from pre-contrast and low-dose scans; "
    "NOT FOR DIAGNOSIS. Verify every finding on the acquired images."
)


@dataclass(frozen=True)
class DerivedSeries:
    """What distinguishes a written series.

    Attributes:
        description: SeriesDescription (0008,103E), at most 64 characters (checked).
        series_number: SeriesNumber (0020,0011).
        comments: ImageComments (0020,4000) of every slice: the synthetic-image warning by default.
        burned_in_banner: burn ``dicom_banner.BANNER_TEXT`` into the top left of every slice (its pixels
            then hold no image data; BurnedInAnnotation ``YES``).
    """

    description: str
    series_number: int = 1000
    comments: str = SYNTHETIC_COMMENT
    burned_in_banner: bool = False

    def __post_init__(self) -> None:
        if not 0 < len(self.description) <= MAX_LONG_STRING:
            raise ValueError(
                f"SeriesDescription must have 1 to 64 characters, got {len(self.description)}: "
                f"{self.description!r}"
            )


def _orientation(image: sitk.Image) -> tuple[float, ...]:
    """ImageOrientationPatient: the direction cosines of the row (x) then column (y) axis."""
    d = image.GetDirection()
    return (d[0], d[3], d[6], d[1], d[4], d[7])


def _decimal_strings(values: tuple[float, ...]) -> list[str]:
    return [f"{value:.{DECIMAL_STRING_DIGITS}g}" for value in values]


def _right_handed(image: sitk.Image) -> sitk.Image:
    """The same voxels with the slice order reversed when the grid is left-handed (DICOM readers stack
    slices along row x column, so a left-handed grid would read back mirrored)."""
    if np.linalg.det(np.reshape(image.GetDirection(), (3, 3))) > 0:
        return image
    return sitk.Flip(image, [False, False, True])


def _stored(values: np.ndarray, rescale: Rescale) -> np.ndarray:
    """int16 values s with ``s * slope + intercept`` nearest to ``values`` (clipped to the int16 range)."""
    scaled = (values.astype(np.float64) - rescale.intercept) / rescale.slope
    return np.clip(np.rint(scaled), STORED_MIN, STORED_MAX).astype(np.int16)


def _window(values: np.ndarray) -> tuple[float, float]:
    """WindowCenter and WindowWidth (>= 1, as DICOM requires): the 0.5th-99.5th percentile of float
    values, the full range of integer values (a 0/1 map: centre 0.5, width 1)."""
    if np.issubdtype(values.dtype, np.integer):
        low, high = float(np.min(values)), float(np.max(values))
    else:
        low, high = (float(value) for value in np.percentile(values, [0.5, 99.5]))
    width = max(high - low, 1.0)
    return (low + high) / 2, width


def _image_attributes(dataset: Dataset, image: sitk.Image, values: np.ndarray, rescale: Rescale) -> None:
    """Image Plane, Image Pixel, rescale and VOI LUT attributes shared by every slice."""
    spacing_x, spacing_y, spacing_z = image.GetSpacing()
    dataset.ImageOrientationPatient = _decimal_strings(_orientation(image))
    dataset.PixelSpacing = _decimal_strings((spacing_y, spacing_x))  # between rows, between columns
    dataset.setdefault("SliceThickness", f"{spacing_z:.{DECIMAL_STRING_DIGITS}g}")  # PC's when copied
    dataset.SpacingBetweenSlices = f"{spacing_z:.{DECIMAL_STRING_DIGITS}g}"
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = image.GetSize()[1], image.GetSize()[0]
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 1
    if rescale != Rescale(1.0, 0.0):  # an identity rescale is left out (stored values are the values)
        dataset.RescaleIntercept = f"{rescale.intercept:.{DECIMAL_STRING_DIGITS}g}"
        dataset.RescaleSlope = f"{rescale.slope:.{DECIMAL_STRING_DIGITS}g}"
        dataset.RescaleType = "US"  # unspecified: the units of the PC scan
    center, width = _window(values)
    dataset.WindowCenter = f"{center:.{DECIMAL_STRING_DIGITS}g}"
    dataset.WindowWidth = f"{width:.{DECIMAL_STRING_DIGITS}g}"


def _burn_banner(stored: np.ndarray, shared: Dataset, rescale: Rescale) -> None:
    """Set the banner's pixels of every (z, y, x) slice to the top of the display window (in place) and
    BurnedInAnnotation to YES; nothing when the slices are too small for a readable banner."""
    mask = banner_mask(stored.shape[1], stored.shape[2])
    if not mask.any():
        logger.warning("slices of %d x %d pixels are too small for the burned-in banner", *stored.shape[1:])
        return
    top = float(shared.WindowCenter) + float(shared.WindowWidth) / 2
    stored[:, mask] = np.clip(np.rint((top - rescale.intercept) / rescale.slope), STORED_MIN, STORED_MAX)
    shared.BurnedInAnnotation = "YES"


def write_dicom_series(
    image: sitk.Image,
    folder: Path | str,
    series: DerivedSeries,
    reference_tags: dict[str, str] | None = None,
    sources: SeriesSources | None = None,
) -> Rescale:
    """Write a 3D scalar image as a synthetic MR series (one file per slice, ``IM00001.dcm`` ...) atomically.

    Explicit VR little endian, UTF-8 text (documentation/dicom.md lists every attribute and its origin).

    Args:
        image: 3D scalar image (any pixel type; values are stored as int16 with a rescale), LPS geometry.
        folder: the series folder; replaced as a whole when it exists.
        series: description, number and comments of the new series.
        reference_tags: ``gggg|eeee`` tags of the image it derives from (:func:`dicom_tags`); used for
            patient and study when ``sources`` has no PC headers.
        sources: PC/LD headers, case name and provenance (:class:`SeriesSources`); None: only
            ``reference_tags`` (patient and study generated where absent).

    Returns:
        The rescale written (the values read back differ from ``image`` by at most ``slope / 2``).
    """
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{folder}: a DICOM series needs a 3D scalar image, got {image.GetDimension()}D.")
    folder = Path(folder)
    if sources is None or (reference_tags and not sources.reference_tags):
        sources = replace(sources or SeriesSources(), reference_tags=dict(reference_tags or {}))
    oriented = _right_handed(image)
    values = sitk.GetArrayFromImage(oriented)  # (z, y, x)
    rescale = rescale_for(values)
    shared = series_dataset(sources, series.description, series.series_number, series.comments,
                            datetime.datetime.now())  # fmt: skip
    _image_attributes(shared, oriented, values, rescale)
    stored = _stored(values, rescale)
    if series.burned_in_banner:
        _burn_banner(stored, shared, rescale)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.with_name(f".tmp-{uuid.uuid4().hex[:12]}-{folder.name}")
    temporary.mkdir()
    try:
        _write_slices(oriented, stored, shared, sources, temporary)
        _replace_folder(temporary, folder)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return rescale


def _write_slices(
    image: sitk.Image, stored: np.ndarray, shared: Dataset, sources: SeriesSources, folder: Path
) -> None:
    """One file per slice: ``shared`` plus position, instance number and UID, source image, pixels."""
    normal = np.reshape(image.GetDirection(), (3, 3))[:, 2]
    positions = np.array(
        [image.TransformIndexToPhysicalPoint((0, 0, index)) for index in range(stored.shape[0])]
    )
    pc_slices = nearest_slices(sources.pre_contrast, positions, normal, image.GetSpacing()[2] / 4)
    ld_slices = nearest_slices(sources.low_dose, positions, normal)
    for index, position in enumerate(positions):
        dataset = Dataset(shared)
        dataset.SOPInstanceUID = new_uid()
        dataset.InstanceNumber = index + 1
        dataset.ImagePositionPatient = _decimal_strings(tuple(position))
        add_slice_references(dataset, pc_slices[index], ld_slices[index])
        dataset.PixelData = np.ascontiguousarray(stored[index]).astype("<i2").tobytes()
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        pydicom.dcmwrite(folder / f"IM{index + 1:05d}.dcm", dataset, enforce_file_format=True)


def _replace_folder(temporary: Path, folder: Path) -> None:
    """Rename ``temporary`` to ``folder``; an existing ``folder`` is moved aside first, then removed."""
    if folder.exists():
        old = folder.with_name(f".old-{uuid.uuid4().hex[:12]}-{folder.name}")
        os.replace(folder, old)
        os.replace(temporary, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temporary, folder)
