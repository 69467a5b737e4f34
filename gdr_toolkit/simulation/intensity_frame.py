"""The intensity frame of a standard-dose scan relative to its pre-contrast scan.

x_SD (on the PC grid) is brought into PC's frame as x_SD' = a * x_SD / B(x): a robust scalar a
(:func:`gdr_toolkit.preprocessing.radiometric.estimate_radiometric_scale`, non-enhancing brain) and a
smooth shading field B = exp(P(x)), P a polynomial of low degree in the physical coordinates, fitted by
robust (Tukey IRLS) least squares to log(a x_SD / x_PC) over the voxels the scalar fit found
non-enhancing. B corrects a bias field that differs between the two series (receive coils, another
sequence); it is clipped to [1/2, 2].
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from gdr_toolkit.preprocessing.radiometric import (
    INLIER_RESIDUAL_SCALES,
    MAD_TO_STD,
    estimate_radiometric_scale,
    robust_weights,
)

MAX_FIT_VOXELS = 200_000
MAX_SHADING_FACTOR = 2.0
IRLS_ITERATIONS = 10
TUKEY_CONSTANT = 4.685


@dataclass(frozen=True)
class IntensityFrame:
    """Result of :func:`fit_intensity_frame`.

    Attributes:
        scale: the scalar a (dimensionless).
        shading_coefficients: coefficients of P per monomial of :func:`_exponents` (degree 0 first).
        inlier_fraction: fraction of brain voxels the scalar fit counted as non-enhancing.
    """

    scale: float
    shading_coefficients: tuple[float, ...]
    inlier_fraction: float


def _exponents(degree: int) -> list[tuple[int, ...]]:
    """(pz, py, px) of every monomial of total degree <= ``degree`` (the constant first)."""
    return [powers for powers in itertools.product(range(degree + 1), repeat=3) if sum(powers) <= degree]


def _coordinates(
    shape: tuple[int, ...], spacing_zyx_mm: np.ndarray, indices: tuple[np.ndarray, ...]
) -> list[np.ndarray]:
    """Coordinates of the voxels ``indices`` in units of 100 mm, centred on the volume."""
    return [
        (index - (size - 1) / 2.0) * spacing / 100.0
        for index, size, spacing in zip(indices, shape, spacing_zyx_mm, strict=True)
    ]


def _polynomial(coordinates: list[np.ndarray], coefficients: np.ndarray, degree: int) -> np.ndarray:
    total = np.zeros(coordinates[0].shape, dtype=np.float64)
    for coefficient, powers in zip(coefficients, _exponents(degree), strict=True):
        total += (
            coefficient
            * coordinates[0] ** powers[0]
            * coordinates[1] ** powers[1]
            * coordinates[2] ** powers[2]
        )
    return total


def _robust_polynomial_fit(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Tukey IRLS least squares of ``targets`` on the columns of ``design``."""
    weights = np.ones(targets.shape)
    coefficients = np.zeros(design.shape[1])
    for _ in range(IRLS_ITERATIONS):
        root = np.sqrt(weights)
        coefficients = np.linalg.lstsq(design * root[:, None], targets * root, rcond=None)[0]
        residuals = targets - design @ coefficients
        scale = MAD_TO_STD * float(np.median(np.abs(residuals - np.median(residuals))))
        if not scale > 0:
            break
        weights = robust_weights(residuals / scale, "tukey", TUKEY_CONSTANT)
    return coefficients


def fit_intensity_frame(
    pre_contrast: np.ndarray,
    standard_dose: np.ndarray,
    brain_mask: np.ndarray,
    spacing_zyx_mm: np.ndarray,
    degree: int = 2,
) -> IntensityFrame:
    """Fit a and the shading field B of x_SD' = a * x_SD / B to x_PC over non-enhancing brain.

    Args:
        pre_contrast: x_PC, float array ``(z, y, x)``.
        standard_dose: x_SD resampled onto PC's grid, same shape.
        brain_mask: boolean array, brain voxels where SD has data.
        spacing_zyx_mm: voxel spacing (z, y, x), mm.
        degree: polynomial degree of log B (0: scalar only).

    Returns:
        The fitted frame (apply it with :func:`apply_intensity_frame`).
    """
    radiometric = estimate_radiometric_scale(standard_dose, pre_contrast, brain_mask)
    scaled = radiometric.scale * standard_dose.astype(np.float64)
    residual = scaled - pre_contrast
    usable = (
        brain_mask
        & (np.abs(residual) <= INLIER_RESIDUAL_SCALES * radiometric.residual_scale)
        & (pre_contrast > 0)
        & (scaled > 0)
    )
    indices = np.nonzero(usable)
    if indices[0].size > MAX_FIT_VOXELS:
        keep = np.linspace(0, indices[0].size - 1, MAX_FIT_VOXELS).astype(np.int64)
        indices = tuple(axis[keep] for axis in indices)
    coefficients = np.zeros(len(_exponents(degree)))
    if degree > 0 and indices[0].size > 10 * coefficients.size:
        coordinates = _coordinates(pre_contrast.shape, spacing_zyx_mm, indices)
        design = np.stack(
            [
                coordinates[0] ** p[0] * coordinates[1] ** p[1] * coordinates[2] ** p[2]
                for p in _exponents(degree)
            ],
            axis=1,
        )
        with np.errstate(all="raise", under="ignore"):
            targets = np.log(scaled[indices] / pre_contrast[indices])
        coefficients = _robust_polynomial_fit(design, targets)
    return IntensityFrame(
        scale=radiometric.scale,
        shading_coefficients=tuple(float(value) for value in coefficients),
        inlier_fraction=radiometric.inlier_fraction,
    )


def shading_field(frame: IntensityFrame, shape: tuple[int, ...], spacing_zyx_mm: np.ndarray) -> np.ndarray:
    """B = exp(P) on the whole grid, clipped to [1/2, 2], float32 ``shape``."""
    coefficients = np.asarray(frame.shading_coefficients)
    degree = next(d for d in range(8) if len(_exponents(d)) == coefficients.size)
    indices = np.indices(shape, sparse=True)
    coordinates = _coordinates(shape, spacing_zyx_mm, tuple(indices))
    coordinates = [np.broadcast_to(axis, shape) for axis in coordinates]
    field = np.exp(_polynomial(coordinates, coefficients, degree))
    return np.clip(field, 1.0 / MAX_SHADING_FACTOR, MAX_SHADING_FACTOR).astype(np.float32)


def apply_intensity_frame(
    standard_dose: np.ndarray, frame: IntensityFrame, spacing_zyx_mm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """x_SD' = a * x_SD / B and B, both float32 of the input's shape."""
    field = shading_field(frame, standard_dose.shape, spacing_zyx_mm)
    return (frame.scale * standard_dose / field).astype(np.float32), field
