"""int16 storage with NIfTI rescaling (scl_slope, scl_inter), as scanners write their images.

A scanner stores value = scl_slope * stored + scl_inter with stored an int16 and chooses the scaling per
image so that the image's range fills the int16 range: slope = (max - min) / 65535 (> 0) and the minimum
maps to -32768. Reading back gives the float value within slope / 2 (rounding to the nearest integer).
slope and intercept are float32 in the NIfTI header, so they are rounded to float32 before quantising.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import nibabel
import numpy as np
import SimpleITK as sitk

from gdr_toolkit.file_io import atomic_path

INT16_MIN, INT16_MAX = -32768, 32767


@dataclass(frozen=True)
class Int16Rescaling:
    """value = slope * stored + intercept (float32 numbers, as in the NIfTI header)."""

    slope: float
    intercept: float

    def record(self) -> dict[str, object]:
        return {"dtype": "int16", "scl_slope": self.slope, "scl_inter": self.intercept}


def int16_rescaling(values: np.ndarray) -> Int16Rescaling:
    """The scaling that maps the range of ``values`` (finite floats, any shape) onto the int16 range."""
    low, high = float(np.min(values)), float(np.max(values))
    slope = np.float32(max(high - low, 1e-6) / (INT16_MAX - INT16_MIN))
    intercept = np.float32(low - INT16_MIN * float(slope))
    return Int16Rescaling(float(slope), float(intercept))


def quantise(values: np.ndarray, rescaling: Int16Rescaling) -> np.ndarray:
    """The stored int16 array (same shape) of ``values`` under ``rescaling``."""
    stored = np.rint((values.astype(np.float64) - rescaling.intercept) / rescaling.slope)
    return np.clip(stored, INT16_MIN, INT16_MAX).astype(np.int16)


def write_rescaled_int16_atomic(image: sitk.Image, rescaling: Int16Rescaling, path: Path | str) -> None:
    """Write ``image`` (float, NIfTI file name) as int16 with ``rescaling`` in scl_slope/scl_inter, atomically.

    SimpleITK writes the geometry (it ignores scaling on write); nibabel then sets the scaling fields.
    """
    path = Path(path)
    stored = sitk.GetImageFromArray(quantise(sitk.GetArrayFromImage(image), rescaling))
    stored.CopyInformation(image)
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / "stored.nii"
        sitk.WriteImage(stored, str(plain))
        loaded = nibabel.Nifti1Image.from_filename(plain)
        scaled = nibabel.Nifti1Image(
            np.asanyarray(loaded.dataobj.get_unscaled()),  # type: ignore[attr-defined]  # an ArrayProxy
            loaded.affine,
            loaded.header,
        )
        scaled.header.set_slope_inter(rescaling.slope, rescaling.intercept)
        with atomic_path(path) as temporary:
            nibabel.save(scaled, str(temporary))
