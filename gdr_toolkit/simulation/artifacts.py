"""Acquisition effects: bias field, receiver gain, Rician noise and rigid head motion.

Conventions:
- The bias field is a smooth function of the scanner (physical) position, b(q) = exp(sum_k a_k P_k(q)),
  with P_k the 9 first- and second-order monomials of (q - c) / 100 mm; it is the same physical field for
  all scans of a case (the coil does not move, the head does).
- Image = gain * |bias * S + n|, n complex Gaussian with standard deviation sigma_0 per channel
  (Rician magnitude noise). The noise sigma in image units is therefore gain * sigma_0. Correlated noise
  (as resampling and k-space filtering make it): each channel is white noise filtered with a Gaussian of
  std c_k voxels along grid axis k, then divided by the filter's noise gain sqrt(sum w^2) so that its std
  is still sigma_0 (the noise level is defined after the correlation); neighbours along axis k then
  correlate by sum_i w_i w_(i+1) / sum_i w_i^2 for the sampled kernel w (about exp(-1 / (4 c_k^2)) for
  c_k >= 1; 0.44 instead of 0.50 at c_k = 0.6).
- SNR of a case: mean noiseless pre-contrast signal in white matter (white-matter fraction >= 0.9 on the
  pre-contrast grid, bias included) divided by sigma_0; equivalently in image units of the PC scan.
- Motion: a rigid (Euler3D) transform R maps a pre-contrast physical point p to the physical point
  q = R(p) where the same piece of tissue lies in the other scan. Registering that scan (moving) to the
  pre-contrast scan (fixed) recovers R (elastix' transforms map fixed points to moving points).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

BIAS_NORMALISATION_MM = 100.0


def physical_coordinates(grid: sitk.Image) -> list[np.ndarray]:
    """Physical x, y, z (mm) of every voxel of ``grid``, each broadcastable to shape (z, y, x)."""
    direction = np.array(grid.GetDirection()).reshape(3, 3)
    spacing, origin = np.array(grid.GetSpacing()), np.array(grid.GetOrigin())
    size = grid.GetSize()
    indices = [np.arange(size[k]).reshape([-1 if j == 2 - k else 1 for j in range(3)]) for k in range(3)]
    return [
        origin[row] + sum(direction[row, k] * spacing[k] * indices[k] for k in range(3)) for row in range(3)
    ]


def draw_bias_coefficients(rng: np.random.Generator, strength: float) -> np.ndarray:
    """Nine coefficients (x, y, z, x^2, y^2, z^2, xy, xz, yz) of the log bias field."""
    return rng.normal(0.0, strength / 2.0, size=9)


def bias_field(grid: sitk.Image, coefficients: np.ndarray, center_mm: np.ndarray) -> np.ndarray:
    """The multiplicative bias field on ``grid``, float32 (z, y, x), exp of a quadratic polynomial."""
    x, y, z = (
        (coordinate - center) / BIAS_NORMALISATION_MM
        for coordinate, center in zip(physical_coordinates(grid), center_mm, strict=True)
    )
    terms = (x, y, z, x * x, y * y, z * z, x * y, x * z, y * z)
    log_field = sum(coefficient * term for coefficient, term in zip(coefficients, terms, strict=True))
    return np.exp(np.broadcast_to(log_field, grid.GetSize()[::-1])).astype(np.float32)


def gaussian_kernel_1d(std_voxels: float) -> np.ndarray:
    """The discrete kernel ``scipy.ndimage.gaussian_filter1d`` applies for ``std_voxels`` (float64; [1] for
    std 0, which ``gaussian_filter`` leaves unfiltered)."""
    if std_voxels <= 1e-15:
        return np.ones(1)
    radius = int(4.0 * std_voxels + 0.5)
    delta = np.zeros(2 * radius + 1)
    delta[radius] = 1.0
    return ndimage.gaussian_filter1d(delta, std_voxels, mode="constant")


def gaussian_noise(
    shape: tuple[int, ...],
    sigma: float,
    rng: np.random.Generator,
    correlation_voxels_zyx: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Zero-mean Gaussian noise of standard deviation ``sigma`` per voxel, float32 array of ``shape``.

    Args:
        shape: (z, y, x) array shape.
        sigma: the std of every voxel (after correlation).
        rng: random generator (consumed: one standard normal per voxel).
        correlation_voxels_zyx: Gaussian std of the correlation per array axis (voxels), or None: white.
    """
    if correlation_voxels_zyx is None:
        return rng.normal(0.0, sigma, size=shape).astype(np.float32)
    white = rng.standard_normal(size=shape)
    filtered = ndimage.gaussian_filter(white, correlation_voxels_zyx, mode="reflect")
    gain = np.sqrt(np.prod([np.sum(gaussian_kernel_1d(std) ** 2) for std in correlation_voxels_zyx]))
    return (filtered * (sigma / gain)).astype(np.float32)


def add_rician_noise(
    signal: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
    correlation_voxels_zyx: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Magnitude of (signal + n_real) + i n_imag with n ~ N(0, sigma^2) per channel, float32.

    Args:
        signal: noiseless magnitude, float array (z, y, x).
        sigma: noise std per channel (after correlation), signal units.
        rng: random generator (consumed: the real channel first, then the imaginary one).
        correlation_voxels_zyx: Gaussian std of the noise correlation per array axis in voxels, or None.
    """
    real = signal + gaussian_noise(signal.shape, sigma, rng, correlation_voxels_zyx)
    imaginary = gaussian_noise(signal.shape, sigma, rng, correlation_voxels_zyx)
    return np.sqrt(real * real + imaginary * imaginary).astype(np.float32)


def draw_rigid_motion(
    rng: np.random.Generator, max_rotation_deg: float, max_translation_mm: float, center_mm: np.ndarray
) -> sitk.Euler3DTransform:
    """A rigid transform with rotations uniform in +-max_rotation_deg per axis and translations uniform
    in +-max_translation_mm per axis, rotating about ``center_mm`` (mm, LPS)."""
    transform = sitk.Euler3DTransform()
    transform.SetCenter([float(v) for v in center_mm])
    angles = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg, size=3))
    transform.SetRotation(*[float(v) for v in angles])
    transform.SetTranslation([float(v) for v in rng.uniform(-max_translation_mm, max_translation_mm, size=3)])
    return transform


def rigid_motion_record(transform: sitk.Euler3DTransform) -> dict[str, Any]:
    """JSON record of a motion transform (see the module docstring for its direction)."""
    return {
        "type": "Euler3DTransform",
        "center_mm": list(transform.GetCenter()),
        "angles_rad": [transform.GetAngleX(), transform.GetAngleY(), transform.GetAngleZ()],
        "translation_mm": list(transform.GetTranslation()),
        "compose_zyx": transform.GetComputeZYX(),
        "maps": "pre-contrast physical point -> this scan's physical point",
    }


def rigid_motion_from_record(record: dict[str, Any]) -> sitk.Euler3DTransform:
    """Inverse of :func:`rigid_motion_record`."""
    if record.get("type") != "Euler3DTransform":
        raise ValueError(f"Expected a motion record of type 'Euler3DTransform', got {record.get('type')!r}.")
    transform = sitk.Euler3DTransform()
    transform.SetCenter([float(v) for v in record["center_mm"]])
    transform.SetComputeZYX(bool(record.get("compose_zyx", False)))
    transform.SetRotation(*[float(v) for v in record["angles_rad"]])
    transform.SetTranslation([float(v) for v in record["translation_mm"]])
    return transform
