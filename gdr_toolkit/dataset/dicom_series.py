"""A DICOM series folder validated before it becomes a volume (documentation/dicom.md, "Checks").

Every reader of DICOM folders goes through :func:`read_validated_series` (``dicom_io.read_dicom_series``,
hence ``image_io.read_image``, ``gdr_verify_dataset``, preprocessing and ``gdr_predict``). In order:

1. every file readable and whole (``dicom_headers.read_series_file``);
2. one series (SeriesInstanceUID), one SOP class among MR Image Storage and (Legacy Converted) Enhanced MR
   Image Storage, Modality ``MR``;
3. rows, columns and pixel spacing equal in every frame; the same orientation in every frame;
4. at least two frames, whose positions along the slice normal are unique and evenly spaced, each step
   along the normal (no in-plane shift: gantry tilt);
5. after reading, the volume's size, origin, spacing and direction equal what the files' own positions
   and orientations say.

A classic series is read by SimpleITK (GDCM) from the files in the validated order; an Enhanced MR file is
stacked here from pydicom's frames. Either way the result is checked by rule 5. Nothing is resampled: a
series breaking a rule is refused, since its slices cannot be placed on one regular grid.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.dicom_headers import (
    MR_SOP_CLASSES,
    DicomSeriesError,
    Frame,
    SeriesFile,
    read_series_file,
    series_file_paths,
    tag_text,
)
from gdr_toolkit.dataset.dicom_stacking import stack_frames

logger = logging.getLogger(__name__)
LISTED = 4  # offending files or positions named in one message


@dataclass(frozen=True)
class SeriesTolerances:
    """How far a series may deviate from a regular grid (documentation/dicom.md gives the reasons).

    Attributes:
        spacing_fraction: each step between neighbouring slices along the normal may differ from the
            series' median step by this fraction of it (0.01: 0.01 mm on a 1 mm grid).
        duplicate_mm: two slices closer than this along the normal share a position.
        tilt_fraction: the in-plane shift between neighbouring slices, as a fraction of their step along
            the normal (tan of the tilt angle; 0.01 is 0.57 degrees).
        direction_cosine: largest difference between direction cosines (orientation of two frames, or the
            reader's direction and the files').
        pixel_spacing_fraction: relative difference allowed between pixel spacings.
        position_mm: largest difference between the reader's origin and the first slice's position.
    """

    spacing_fraction: float = 0.01
    duplicate_mm: float = 0.01
    tilt_fraction: float = 0.01
    direction_cosine: float = 1e-4
    pixel_spacing_fraction: float = 1e-4
    position_mm: float = 0.01


@dataclass(frozen=True)
class ValidatedSeries:
    """A series that passed rules 1-4: its frames sorted along the normal and the grid they span.

    Attributes:
        folder: the series folder.
        files: the files, in the validated order.
        frames: the frames sorted by position along the normal (ascending).
        spacing_mm: (between columns, between rows, between slices): the x, y, z spacing.
        direction: 3x3 direction matrix, columns the row, column and normal direction cosines.
    """

    folder: Path
    files: tuple[SeriesFile, ...]
    frames: tuple[Frame, ...]
    spacing_mm: tuple[float, float, float]
    direction: np.ndarray

    @property
    def origin_mm(self) -> tuple[float, float, float]:
        return self.frames[0].position_mm

    @property
    def size(self) -> tuple[int, int, int]:
        return (self.frames[0].columns, self.frames[0].rows, len(self.frames))


def read_validated_series(
    folder: Path | str, tag_keys: Iterable[str] = (), tolerances: SeriesTolerances | None = None
) -> sitk.Image:
    """Read the one series of ``folder`` after checking it (module docstring, rules 1-5).

    Args:
        folder: a folder of DICOM files, or one holding a DICOMDIR.
        tag_keys: tags (``gggg|eeee``) copied from the first file into the image's metadata dictionary,
            decoded with its SpecificCharacterSet; absent ones are left out.
        tolerances: the deviations allowed (default :class:`SeriesTolerances`).

    Returns:
        3D image in LPS (float32 when the series is rescaled, else its stored integer type).

    Raises:
        DicomSeriesError: a rule is broken; the one-line message names the folder or file, the rule and
            the values or positions that break it.
    """
    tolerances = tolerances or SeriesTolerances()
    series = validate_series(Path(folder), tolerances)
    image = _read_pixels(series)
    check_reader_geometry(image, series, tolerances)
    first = series.files[0].dataset
    for key in tag_keys:
        value = tag_text(first, key)
        if value is not None:
            image.SetMetaData(key, value)
    return image


def validate_series(folder: Path, tolerances: SeriesTolerances) -> ValidatedSeries:
    """Rules 1-4 on the files of ``folder``; raises DicomSeriesError naming the first rule broken."""
    paths = series_file_paths(folder)
    if not paths:
        raise DicomSeriesError(f"{folder}: folder holds no DICOM series (expected the files of one series).")
    files = [read_series_file(path) for path in paths]
    _check_one_series(folder, files)
    frames = [frame for file in files for frame in file.frames]
    _check_equal_frames(folder, frames, tolerances)
    direction = _direction(frames[0])
    ordered = sorted(frames, key=lambda frame: float(np.dot(frame.position_mm, direction[:, 2])))
    step_mm = _check_positions(folder, ordered, direction, tolerances)
    row_spacing, column_spacing = frames[0].pixel_spacing_mm
    rank: dict[Path, int] = {}
    for index, frame in enumerate(ordered):
        rank.setdefault(frame.path, index)
    files_in_order = tuple(sorted(files, key=lambda file: rank[file.path]))
    return ValidatedSeries(
        folder, files_in_order, tuple(ordered), (column_spacing, row_spacing, step_mm), direction
    )


def _check_one_series(folder: Path, files: list[SeriesFile]) -> None:
    series = sorted({file.series_uid for file in files})
    if len(series) > 1:
        listing = "; ".join(
            _describe_series(uid, [file for file in files if file.series_uid == uid]) for uid in series
        )
        raise DicomSeriesError(
            f"{folder}: folder holds {len(series)} DICOM series, expected one; put each in its own "
            f"folder: {listing} (rule: one series)"
        )
    classes = sorted({file.sop_class_uid for file in files})
    if len(classes) > 1 or classes[0] not in MR_SOP_CLASSES:
        raise DicomSeriesError(
            f"{folder}: SOP class {', '.join(classes)}, expected one of {', '.join(MR_SOP_CLASSES.values())} "
            f"(rule: one SOP class, MR)"
        )
    modalities = sorted({file.modality for file in files})
    if modalities != ["MR"]:
        offending = next(file for file in files if file.modality != "MR")
        raise DicomSeriesError(
            f"{folder}: Modality {'/'.join(modalities)} (e.g. {offending.path.name}), expected MR "
            f"(rule: modality MR)"
        )


def _describe_series(series_uid: str, files: list[SeriesFile]) -> str:
    description = tag_text(files[0].dataset, "0008|103e") or "no description"
    return f"{series_uid} ({description}, {len(files)} file(s))"


def _check_equal_frames(folder: Path, frames: list[Frame], tolerances: SeriesTolerances) -> None:
    first = frames[0]
    for frame in frames[1:]:
        if (frame.rows, frame.columns) != (first.rows, first.columns):
            raise DicomSeriesError(
                f"{folder}: {frame.name} has {frame.rows} x {frame.columns} pixels, {first.name} "
                f"{first.rows} x {first.columns} (rule: rows and columns equal)"
            )
        if not np.allclose(
            frame.pixel_spacing_mm, first.pixel_spacing_mm, rtol=tolerances.pixel_spacing_fraction
        ):
            raise DicomSeriesError(
                f"{folder}: {frame.name} has pixel spacing {_mm(frame.pixel_spacing_mm)}, {first.name} "
                f"{_mm(first.pixel_spacing_mm)} (rule: pixel spacing equal)"
            )
        if np.max(np.abs(np.subtract(frame.orientation, first.orientation))) > tolerances.direction_cosine:
            raise DicomSeriesError(
                f"{folder}: {frame.name} has orientation {_cosines(frame.orientation)}, {first.name} "
                f"{_cosines(first.orientation)} (rule: same orientation, tolerance {tolerances.direction_cosine:g})"
            )
    row, column = np.array(first.orientation[:3]), np.array(first.orientation[3:])
    if (
        abs(np.linalg.norm(row) - 1) > 1e-3
        or abs(np.linalg.norm(column) - 1) > 1e-3
        or abs(row @ column) > 1e-3
    ):
        raise DicomSeriesError(
            f"{folder}: ImageOrientationPatient {_cosines(first.orientation)} of {first.name} is not two "
            f"orthogonal unit vectors (rule: valid orientation)"
        )
    if min(first.pixel_spacing_mm) <= 0:
        raise DicomSeriesError(
            f"{folder}: PixelSpacing {_mm(first.pixel_spacing_mm)} (rule: positive spacing)"
        )


def _direction(frame: Frame) -> np.ndarray:
    """Columns: row (x), column (y) and slice normal (row x column) direction cosines, normalised."""
    row, column = np.array(frame.orientation[:3]), np.array(frame.orientation[3:])
    row, column = row / np.linalg.norm(row), column / np.linalg.norm(column)
    return np.column_stack([row, column, np.cross(row, column)])


def _check_positions(
    folder: Path, ordered: list[Frame], direction: np.ndarray, tolerances: SeriesTolerances
) -> float:
    """Rule 4 on frames sorted along the normal; returns the step between slices (mm)."""
    if len(ordered) < 2:
        raise DicomSeriesError(f"{folder}: {len(ordered)} slice, a volume needs at least 2 (rule: 3D series)")
    positions = np.array([frame.position_mm for frame in ordered])
    along = positions @ direction[:, 2]
    steps = np.diff(along)
    duplicates = np.flatnonzero(steps < tolerances.duplicate_mm)
    if duplicates.size:
        pairs = ", ".join(
            f"{ordered[index].name} and {ordered[index + 1].name} at {along[index]:.3f} mm"
            for index in duplicates[:LISTED]
        )
        raise DicomSeriesError(
            f"{folder}: {duplicates.size} duplicate slice position(s) along the normal: {pairs} "
            f"(rule: positions unique, tolerance {tolerances.duplicate_mm:g} mm)"
        )
    step = float(np.median(steps))
    uneven = np.flatnonzero(np.abs(steps - step) > tolerances.spacing_fraction * step)
    if uneven.size:
        raise DicomSeriesError(
            f"{folder}: slice positions not evenly spaced (step {step:.3f} mm): "
            f"{_gaps(ordered, along, steps, step, uneven)} (rule: even spacing, tolerance "
            f"{tolerances.spacing_fraction:.0%} of the step)"
        )
    _check_tilt(folder, ordered, positions, direction, tolerances)
    return float((along[-1] - along[0]) / (len(along) - 1))


def _check_tilt(
    folder: Path,
    ordered: list[Frame],
    positions: np.ndarray,
    direction: np.ndarray,
    tolerances: SeriesTolerances,
) -> None:
    """Rule 11: each step between neighbouring slices lies along the normal (no in-plane shift)."""
    steps = np.diff(positions @ direction[:, 2])
    in_plane = np.linalg.norm(np.diff(positions, axis=0) - np.outer(steps, direction[:, 2]), axis=1)
    tilted = np.flatnonzero(in_plane > tolerances.tilt_fraction * steps)
    if tilted.size:
        index = int(tilted[0])
        angle = np.degrees(np.arctan2(in_plane[index], steps[index]))
        raise DicomSeriesError(
            f"{folder}: slices shift in-plane by {in_plane[index]:.3f} mm per {steps[index]:.3f} mm step "
            f"({ordered[index].name} -> {ordered[index + 1].name}, {angle:.2f} degrees; {tilted.size} step(s)): "
            f"gantry tilt or sheared stack (rule: positions along the normal, tolerance "
            f"{np.degrees(np.arctan(tolerances.tilt_fraction)):.2f} degrees)"
        )


def _gaps(ordered: list[Frame], along: np.ndarray, steps: np.ndarray, step: float, uneven: np.ndarray) -> str:
    """The steps off the grid, each named by its two frames, e.g. a missing slice (a step of 2 x)."""
    described = []
    for index in uneven[:LISTED]:
        ratio = steps[index] / step
        kind = (
            f"{round(ratio) - 1} missing slice(s)"
            if ratio > 1.5 and abs(ratio - round(ratio)) < 0.1
            else "gap"
        )
        described.append(
            f"{kind} between {ordered[index].name} ({along[index]:.3f} mm) and {ordered[index + 1].name} "
            f"({along[index + 1]:.3f} mm), step {steps[index]:.3f} mm"
        )
    more = f" and {uneven.size - LISTED} more" if uneven.size > LISTED else ""
    return "; ".join(described) + more


def _read_pixels(series: ValidatedSeries) -> sitk.Image:
    if any(file.multi_frame for file in series.files):
        datasets = {file.path: file.dataset for file in series.files}
        return stack_frames(series.frames, datasets, series.spacing_mm, series.direction)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(frame.path) for frame in series.frames])
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise DicomSeriesError(
            f"{series.folder}: the series cannot be decoded by GDCM (compressed pixel data damaged or an "
            f"unsupported transfer syntax) (rule: every file readable)"
        ) from error
    if image.GetPixelID() == sitk.sitkFloat64:
        image = sitk.Cast(image, sitk.sitkFloat32)
    return image


def check_reader_geometry(image: sitk.Image, series: ValidatedSeries, tolerances: SeriesTolerances) -> None:
    """Rule 5: the image's grid equals the one the files describe, else DicomSeriesError."""
    checks = {
        "size": (image.GetSize() == series.size, image.GetSize(), series.size),
        "origin": (
            np.allclose(image.GetOrigin(), series.origin_mm, atol=tolerances.position_mm, rtol=0),
            _mm(image.GetOrigin()), _mm(series.origin_mm),
        ),
        "spacing": (
            np.allclose(image.GetSpacing(), series.spacing_mm, rtol=tolerances.spacing_fraction, atol=0),
            _mm(image.GetSpacing()), _mm(series.spacing_mm),
        ),
        "direction": (
            np.allclose(np.reshape(image.GetDirection(), (3, 3)), series.direction, atol=tolerances.direction_cosine),
            _cosines(image.GetDirection()), _cosines(series.direction.ravel()),
        ),
    }  # fmt: skip
    for name, (agrees, read, expected) in checks.items():
        if not agrees:
            raise DicomSeriesError(
                f"{series.folder}: the reader's {name} {read} differs from the files' {expected} "
                f"(rule: geometry read equals the files' positions and orientation)"
            )


def _mm(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{value:.3f}" for value in values) + ") mm"


def _cosines(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{value:.4f}" for value in values) + ")"
