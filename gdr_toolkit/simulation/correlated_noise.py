"""Spatially correlated noise: measure the autocorrelation of a noise field, and draw noise that has it.

Resampled scans (interpolated onto another grid, zero-filled in k-space, filtered by the scanner) carry
noise that is correlated over a voxel or more. Covariances are measured on high-pass residuals inside a
mask by normalised correlation::

    c(t) = sum_x r1(x) r2(x + t) m(x) m(x + t) / sum_x m(x) m(x + t)     (autocorrelation: r1 = r2, c / c(0))

(computed with FFTs over the mask's bounding box), and noise with that autocorrelation is white Gaussian
noise filtered with sqrt(PSD), where the power spectrum PSD is the Fourier transform of the (tapered)
autocorrelation window.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

DEFAULT_RADIUS_VOXELS = 4
HIGH_PASS_STD_VOXELS = 4.0  # removes anatomy and shading; biases a short-range ACF by a few per cent


def high_pass_residual(
    values: np.ndarray, mask: np.ndarray, std_voxels: float = HIGH_PASS_STD_VOXELS
) -> np.ndarray:
    """values minus their normalised Gaussian local mean inside ``mask`` (0 outside), float64.

    Args:
        values: float array ``(z, y, x)``.
        mask: boolean array of the same shape.
        std_voxels: Gaussian std of the local mean, voxels.
    """
    weights = mask.astype(np.float64)
    density = ndimage.gaussian_filter(weights, std_voxels)
    local = ndimage.gaussian_filter(np.where(mask, values, 0.0).astype(np.float64), std_voxels)
    mean = np.divide(local, density, out=np.zeros_like(local), where=density > 1e-6)
    return np.where(mask, values - mean, 0.0)


def _bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    indices = np.nonzero(mask)
    return tuple(slice(max(int(axis.min()) - margin, 0), int(axis.max()) + margin + 1) for axis in indices)


def noise_cross_covariance(
    first: np.ndarray, second: np.ndarray, mask: np.ndarray, radius_voxels: int = DEFAULT_RADIUS_VOXELS
) -> np.ndarray:
    """Cross-covariance c(t) = mean over pairs in ``mask`` of first(x) * second(x + t), symmetrised in t.

    Args:
        first, second: float arrays ``(z, y, x)`` with zero local mean in the mask (high-pass residuals).
        mask: boolean array of the same shape; voxels outside are ignored.
        radius_voxels: the window reaches lags -radius..radius per axis.

    Returns:
        float64 array ``(2r+1, 2r+1, 2r+1)``, lag 0 at the centre, in squared intensity units.

    Raises:
        ValueError: an empty mask.
    """
    if not mask.any():
        raise ValueError("noise covariance: the mask is empty.")
    box = _bounding_box(mask, radius_voxels)
    weights = mask[box].astype(np.float64)
    shape = [size + radius_voxels + 1 for size in weights.shape]  # padding: no wrap-around within the window
    axes = (0, 1, 2)
    spectra = [
        np.fft.rfftn(np.where(mask[box], values[box], 0.0), shape, axes=axes) for values in (first, second)
    ]
    weight_spectrum = np.fft.rfftn(weights, shape, axes=axes)
    products = np.fft.irfftn(np.conj(spectra[0]) * spectra[1], shape, axes=axes)
    pairs = np.fft.irfftn(np.abs(weight_spectrum) ** 2, shape, axes=axes)
    lags = np.arange(-radius_voxels, radius_voxels + 1)
    window = np.ix_(lags % shape[0], lags % shape[1], lags % shape[2])
    covariance = products[window] / np.maximum(pairs[window], 1.0)
    return 0.5 * (covariance + covariance[::-1, ::-1, ::-1])


def noise_autocorrelation(
    residual: np.ndarray, mask: np.ndarray, radius_voxels: int = DEFAULT_RADIUS_VOXELS
) -> np.ndarray:
    """Normalised autocorrelation rho(t) of a zero-mean noise field inside ``mask`` (rho(0) = 1 at the
    centre of the ``(2r+1,)*3`` window); see :func:`noise_cross_covariance`.

    Raises:
        ValueError: an empty mask or a residual that is zero in the mask.
    """
    covariance = noise_cross_covariance(residual, residual, mask, radius_voxels)
    centre = covariance[radius_voxels, radius_voxels, radius_voxels]
    if not centre > 0:
        raise ValueError("noise_autocorrelation: the residual is zero inside the mask.")
    return covariance / centre


def coloured_noise(
    shape: tuple[int, ...], autocorrelation: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Unit-variance Gaussian noise of ``shape`` whose autocorrelation is ``autocorrelation``.

    Args:
        shape: output shape ``(z, y, x)``.
        autocorrelation: odd-sized window ``(2r+1,)*3`` with rho(0) = 1 at its centre
            (:func:`noise_autocorrelation`); the window should reach lags where rho has decayed to ~0 (its
            truncation ripples the spectrum, which is clipped at 0).
        rng: random generator.

    Returns:
        float32 array of ``shape``.
    """
    radius = autocorrelation.shape[0] // 2
    kernel = np.zeros(shape, dtype=np.float64)
    lags = np.arange(-radius, radius + 1)
    kernel[np.ix_(lags % shape[0], lags % shape[1], lags % shape[2])] = autocorrelation
    power = np.maximum(np.fft.rfftn(kernel).real, 0.0)
    white = rng.standard_normal(shape)
    noise = np.fft.irfftn(np.fft.rfftn(white) * np.sqrt(power), shape, axes=(0, 1, 2))
    variance = float(np.fft.irfftn(power, shape, axes=(0, 1, 2))[0, 0, 0])  # (1/N) * sum of the full spectrum
    return (noise / np.sqrt(variance)).astype(np.float32)
