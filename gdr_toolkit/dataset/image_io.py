"""Image reading and writing through SimpleITK (any format it reads), with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.file_io import atomic_path


def read_image(path: Path | str, require_3d: bool = True) -> sitk.Image:
    """Read an image, keeping its geometry (spacing in mm, origin in mm, direction cosines, LPS).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: SimpleITK cannot read it (corrupt or unknown format), or it is not a single-component
            3D image when ``require_3d``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file {path} does not exist.")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reason"
        raise ValueError(
            f"{path}: cannot be read as an image (corrupt file or unknown format): {first_line}"
        ) from error
    if require_3d:
        require_scalar_3d(image, str(path))
    return image


def check_finite(image: sitk.Image, source: str) -> None:
    """Raise ValueError naming ``source`` when the image holds NaN or infinite values."""
    values = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise ValueError(f"{source}: {bad} voxel(s) are NaN or infinite.")


def count_non_finite_stored(path: Path | str, image: sitk.Image) -> int:
    """Number of NaN/inf voxels stored in ``path``, of which ``image`` is the SimpleITK reading.

    SimpleITK's NIfTI reader silently replaces NaN with 0 (ITK 5.4), so for NIfTI files the stored
    values are read again with nibabel; for other formats the already-read image is counted.
    """
    if Path(path).name.endswith((".nii", ".nii.gz")):
        import nibabel  # noqa: PLC0415  (only needed here; nibabel is a dependency of nilearn)

        values = np.asanyarray(nibabel.load(str(path)).dataobj)
    else:
        values = sitk.GetArrayViewFromImage(image)
    if not np.issubdtype(values.dtype, np.floating):
        return 0
    return int(values.size - np.count_nonzero(np.isfinite(values)))


def write_image_atomic(image: sitk.Image, path: Path | str, compress: bool = True) -> None:
    """Write an image atomically (temporary file + rename); the format follows the file name ending."""
    with atomic_path(path) as temporary:
        sitk.WriteImage(image, str(temporary), useCompression=compress)


def image_from_array(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """A SimpleITK image holding ``array`` (shape (z, y, x), as GetArrayFromImage) with ``reference``'s geometry."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def require_scalar_3d(image: sitk.Image, source: str) -> None:
    """Raise ValueError naming ``source`` unless ``image`` is a single-component 3D SimpleITK image."""
    if not isinstance(image, sitk.Image):
        raise ValueError(f"{source} must be a SimpleITK image, got {type(image).__name__}.")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"{source}: expected a single-channel 3D image, got dimension {image.GetDimension()} with "
            f"{image.GetNumberOfComponentsPerPixel()} component(s) per voxel."
        )
