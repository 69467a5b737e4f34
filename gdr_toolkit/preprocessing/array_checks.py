"""Input checks shared by the preprocessing numerics; every error names the argument and the bad value.

Array convention of the package: volumes are numpy arrays indexed ``(z, y, x)`` as SimpleITK's
``GetArrayFromImage`` returns them; voxel spacings are given in millimetres in ``(x, y, z)`` order as
SimpleITK's ``GetSpacing()`` returns them. :func:`spacing_zyx_mm` is the one place that converts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def require_volume(array: np.ndarray, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``array`` as a finite float array, raising ValueError naming ``name`` otherwise.

    Args:
        array: 3D array ``(z, y, x)`` of any real dtype.
        name: argument name used in error messages.
        shape: required shape (for example the shape of the pre-contrast image), or None.

    Returns:
        The array itself when it is already floating point, else a float32 copy.
    """
    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"{name} must be a 3D (z, y, x) array, got shape {array.shape}.")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} has shape {array.shape}, expected {tuple(shape)} (the same voxel grid).")
    if not np.issubdtype(array.dtype, np.floating):
        if not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
            raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}.")
        return array.astype(np.float32)
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - np.count_nonzero(finite))
        first = tuple(int(index) for index in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} holds {bad} NaN or infinite value(s) (first at (z, y, x) = {first}); "
            "fix or mask them before preprocessing."
        )
    return array


def require_brain_mask(mask: np.ndarray, shape: tuple[int, ...], name: str = "brain_mask") -> np.ndarray:
    """Return ``mask`` as a boolean array of ``shape`` with at least one voxel set.

    Args:
        mask: 3D array ``(z, y, x)``, boolean or 0/1 integers (any non-zero value counts as brain).
        shape: the shape of the images the mask belongs to.
        name: argument name used in error messages.

    Raises:
        ValueError: wrong shape, non-finite values, or an empty mask.
    """
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"{name} has shape {mask.shape}, expected {tuple(shape)} (the image grid).")
    if mask.dtype != bool:
        if np.issubdtype(mask.dtype, np.floating) and not np.isfinite(mask).all():
            raise ValueError(f"{name} holds NaN or infinite values.")
        mask = mask != 0
    if not mask.any():
        raise ValueError(f"{name} is empty (no brain voxel set); check the atlas registration.")
    return mask


def require_positive(value: float, name: str) -> float:
    """Return ``value`` as float when it is finite and > 0, else raise ValueError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a positive number, got {value!r}.") from error
    if not math.isfinite(number) or number <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return number


def spacing_zyx_mm(spacing_xyz_mm: Sequence[float], name: str = "spacing_xyz_mm") -> np.ndarray:
    """Convert a SimpleITK-ordered spacing ``(x, y, z)`` in mm to the array axis order ``(z, y, x)``.

    Args:
        spacing_xyz_mm: three positive voxel sizes in millimetres, ordered like ``GetSpacing()``.
        name: argument name used in error messages.

    Returns:
        float64 array of shape (3,), the spacing of array axes 0, 1, 2 (z, y, x) in mm.
    """
    values = tuple(spacing_xyz_mm)
    if len(values) != 3:
        raise ValueError(f"{name} must hold three values (x, y, z) in mm, got {values!r}.")
    for value in values:
        require_positive(value, name)
    return np.asarray(values[::-1], dtype=np.float64)
