"""Frames of multi-frame (Enhanced MR) files stacked into a volume with pydicom, in a given order.

SimpleITK's GDCM reader takes a multi-frame file's geometry from its first frame and a spacing it infers,
which is not reliable for Enhanced MR; the frames are therefore decoded by pydicom and placed on the grid
that the validation (``dicom_series``) derived from their own Plane Position and Orientation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset

from gdr_toolkit.dataset.dicom_headers import DicomSeriesError, Frame


def stack_frames(
    frames: tuple[Frame, ...],
    datasets: dict[Path, Dataset],
    spacing_mm: tuple[float, float, float],
    direction: np.ndarray,
) -> sitk.Image:
    """A 3D image of ``frames`` in their order (slice k = frames[k]), rescaled where the files say so.

    Args:
        frames: sorted along the slice normal; each names its file and frame index.
        datasets: the pydicom data set of each file (pixel data included).
        spacing_mm: x, y, z spacing.
        direction: 3x3, columns the row, column and normal direction cosines.

    Returns:
        Image of size (columns, rows, len(frames)), origin the first frame's position; float32 when a
        Rescale Slope/Intercept other than 1/0 applies, else the stored integer type.
    """
    pixels = {}
    for path in {frame.path for frame in frames}:
        try:
            array = datasets[path].pixel_array
        except Exception as error:  # noqa: BLE001 (pydicom's decoders raise many types)
            raise DicomSeriesError(
                f"{path}: pixel data cannot be decoded ({type(error).__name__}) (rule: every file readable)"
            ) from error
        pixels[path] = array if array.ndim == 3 else array[np.newaxis]
    slices = [pixels[frame.path][frame.frame_index or 0] for frame in frames]
    rescales = [_rescale(datasets[frame.path], frame.frame_index) for frame in frames]
    if all(rescale == (1.0, 0.0) for rescale in rescales):
        volume = np.stack(slices)
    else:
        volume = np.stack(
            [
                piece.astype(np.float32) * slope + intercept
                for piece, (slope, intercept) in zip(slices, rescales, strict=True)
            ]
        ).astype(np.float32)
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing(spacing_mm)
    image.SetOrigin(frames[0].position_mm)
    image.SetDirection(direction.ravel().tolist())
    return image


def _rescale(dataset: Dataset, frame_index: int | None) -> tuple[float, float]:
    """(slope, intercept) of a frame: Pixel Value Transformation (per frame, then shared), else top level."""
    groups = []
    if frame_index is not None and "PerFrameFunctionalGroupsSequence" in dataset:
        groups.append(dataset.PerFrameFunctionalGroupsSequence[frame_index])
    if "SharedFunctionalGroupsSequence" in dataset:
        groups.append(dataset.SharedFunctionalGroupsSequence[0])
    for group in groups:
        if "PixelValueTransformationSequence" in group:
            transformation = group.PixelValueTransformationSequence[0]
            return float(transformation.get("RescaleSlope", 1)), float(
                transformation.get("RescaleIntercept", 0)
            )
    return float(dataset.get("RescaleSlope", 1)), float(dataset.get("RescaleIntercept", 0))
