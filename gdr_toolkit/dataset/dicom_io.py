"""DICOM series in and out through SimpleITK's GDCM reader and writer (documentation/dicom.md).

Reading: a folder holding exactly one series, validated first (``dicom_series``: every file whole, MR,
slices evenly spaced, geometry checked); the patient, study and frame-of-reference tags of its first slice,
decoded with its character set, travel with the returned image in its metadata dictionary (keys ``gggg|eeee``), so
that a series derived from it later (:func:`write_dicom_series`) keeps patient and study.

Writing: one file per slice, float values stored as int16 with Rescale Slope/Intercept chosen from the
image's range (absolute error <= slope / 2, :func:`rescale_for`), new UIDs under the UUID-derived root
``2.25`` (ISO/IEC 9834-8, no registration needed), the whole series written into a temporary folder and
renamed into place.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

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

    A constant image gets slope 1 (stored values then all equal). The values are rounded to 10 significant
    digits first (the Decimal String that is written), so the quantisation uses what a reader will use.
    """
    low, high = float(np.min(values)), float(np.max(values))
    slope = (high - low) / (STORED_MAX - STORED_MIN) if high > low else 1.0
    intercept = (high + low) / 2
    as_written = [float(f"{value:.{DECIMAL_STRING_DIGITS}g}") for value in (slope, intercept)]
    return Rescale(*as_written)


@dataclass(frozen=True)
class DerivedSeries:
    """What distinguishes a written series.

    Attributes:
        description: SeriesDescription (0008,103E), at most 64 characters.
        series_number: SeriesNumber (0020,0011).
    """

    description: str
    series_number: int = 1000


def _series_tags(
    image: sitk.Image, series: DerivedSeries, reference: dict[str, str], rescale: Rescale
) -> dict[str, str]:
    """Tags shared by every slice: copied patient/study, generated ones where the reference has none."""
    now = datetime.datetime.now()
    tags = {key: value for key, value in reference.items() if key in COPIED_TAGS}
    tags.setdefault("0010|0020", "GDR_ANONYMOUS")
    tags.setdefault("0010|0010", "GDR^ANONYMOUS")
    tags.setdefault("0020|000d", new_uid())
    tags.setdefault("0020|0052", new_uid())
    tags.setdefault("0008|0020", now.strftime("%Y%m%d"))
    tags.setdefault("0008|0030", now.strftime("%H%M%S"))
    source = reference.get(SOURCE_SERIES_KEY)
    derivation = (
        f"synthesised by gdr_toolkit from series {source}" if source else "synthesised by gdr_toolkit"
    )
    spacing_z = image.GetSpacing()[2]
    tags.update(
        {
            "0008|0016": MR_IMAGE_STORAGE,
            "0008|0060": "MR",
            "0008|0008": "DERIVED\\SECONDARY",
            "0008|103e": series.description[:64],
            "0008|2111": derivation[:1024],
            "0020|000e": new_uid(),
            "0020|0011": str(series.series_number),
            "0008|0021": now.strftime("%Y%m%d"),
            "0008|0031": now.strftime("%H%M%S"),
            "0018|0050": f"{spacing_z:.{DECIMAL_STRING_DIGITS}g}",
            "0018|0088": f"{spacing_z:.{DECIMAL_STRING_DIGITS}g}",
            "0020|0037": _decimal_strings(_orientation(image)),
            "0028|1052": f"{rescale.intercept:.{DECIMAL_STRING_DIGITS}g}",
            "0028|1053": f"{rescale.slope:.{DECIMAL_STRING_DIGITS}g}",
            "0028|0100": "16",
            "0028|0101": "16",
            "0028|0102": "15",
            "0028|0103": "1",
        }
    )
    return tags


def _orientation(image: sitk.Image) -> tuple[float, ...]:
    """ImageOrientationPatient: the direction cosines of the row (x) then column (y) axis."""
    d = image.GetDirection()
    return (d[0], d[3], d[6], d[1], d[4], d[7])


def _decimal_strings(values: tuple[float, ...]) -> str:
    return "\\".join(f"{value:.{DECIMAL_STRING_DIGITS}g}" for value in values)


def _right_handed(image: sitk.Image) -> sitk.Image:
    """The same voxels with the slice order reversed when the grid is left-handed (DICOM readers stack
    slices along row x column, so a left-handed grid would read back mirrored)."""
    if np.linalg.det(np.reshape(image.GetDirection(), (3, 3))) > 0:
        return image
    return sitk.Flip(image, [False, False, True])


def _quantised(image: sitk.Image, rescale: Rescale) -> sitk.Image:
    """float64 image holding exactly ``stored * slope + intercept`` so that GDCM's inverse rescale is exact."""
    values = sitk.GetArrayFromImage(image).astype(np.float64)
    stored = np.clip(np.rint((values - rescale.intercept) / rescale.slope), STORED_MIN, STORED_MAX)
    quantised = sitk.GetImageFromArray(stored * rescale.slope + rescale.intercept)
    quantised.CopyInformation(image)
    return quantised


def _enable_rescaled_mr_storage(folder: Path) -> None:
    """Let GDCM write MR Image Storage with Rescale Slope/Intercept in this process.

    GDCM's writer otherwise turns an MR image carrying a rescale into Enhanced MR Image Storage; ITK's
    DICOM reader switches that off process-wide (``gdcm::ImageHelper::SetForceRescaleInterceptSlope``),
    which SimpleITK does not expose, so one tiny DICOM file is written and read the way ITK reads.
    """
    probe = folder / ".probe.dcm"
    sitk.WriteImage(sitk.Image([1, 1], sitk.sitkInt16), str(probe))
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(probe))
    reader.ReadImageInformation()
    probe.unlink()


def write_dicom_series(
    image: sitk.Image,
    folder: Path | str,
    series: DerivedSeries,
    reference_tags: dict[str, str] | None = None,
) -> Rescale:
    """Write a 3D scalar image as a DICOM series (one file per slice, ``IM00001.dcm`` ...) atomically.

    Args:
        image: 3D scalar image (any pixel type; values are stored as int16 with a rescale), LPS geometry.
        folder: the series folder; replaced as a whole when it exists.
        series: description and number of the new series.
        reference_tags: tags of the series it derives from (:func:`dicom_tags` of an image read by
            :func:`read_dicom_series`); patient, study and frame of reference are copied from it
            (:data:`COPIED_TAGS`), generated when absent.

    Returns:
        The rescale written (the values read back differ from ``image`` by at most ``slope / 2``).
    """
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{folder}: a DICOM series needs a 3D scalar image, got {image.GetDimension()}D.")
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.with_name(f".tmp-{uuid.uuid4().hex[:12]}-{folder.name}")
    temporary.mkdir()
    try:
        _enable_rescaled_mr_storage(temporary)
        oriented = _right_handed(image)
        rescale = rescale_for(sitk.GetArrayViewFromImage(oriented))
        _write_slices(
            _quantised(oriented, rescale),
            temporary,
            _series_tags(oriented, series, reference_tags or {}, rescale),
        )
        _replace_folder(temporary, folder)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return rescale


def _write_slices(image: sitk.Image, folder: Path, tags: dict[str, str]) -> None:
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()  # the UIDs set in ``tags`` are written as they are
    for index in range(image.GetSize()[2]):
        slice_image = image[:, :, index : index + 1]
        for key, value in tags.items():
            slice_image.SetMetaData(key, value)
        position = image.TransformIndexToPhysicalPoint((0, 0, index))
        slice_image.SetMetaData("0020|0032", _decimal_strings(position))
        slice_image.SetMetaData("0020|0013", str(index + 1))
        slice_image.SetMetaData("0008|0018", new_uid())
        writer.SetFileName(str(folder / f"IM{index + 1:05d}.dcm"))
        writer.Execute(slice_image)


def _replace_folder(temporary: Path, folder: Path) -> None:
    """Rename ``temporary`` to ``folder``; an existing ``folder`` is moved aside first, then removed."""
    if folder.exists():
        old = folder.with_name(f".old-{uuid.uuid4().hex[:12]}-{folder.name}")
        os.replace(folder, old)
        os.replace(temporary, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temporary, folder)
