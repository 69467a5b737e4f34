"""Normalised (masked) Gaussian filtering, optionally on a block-averaged grid for speed.

Normalised convolution (Knutsson & Westin 1993) estimates a local weighted mean of ``values`` from the
voxels where ``weights`` > 0 only:

    mean = G * (w v) / G * w,

with G a Gaussian kernel. The paper's noise statistics (section 3.1, before eq. 1) use a large kernel
(std 16 voxels of a 0.5 mm grid = 8 mm), so the result is very smooth. scipy's ``gaussian_filter`` is
separable (three 1D passes) and costs O(kernel length) per voxel; for large kernels we therefore
block-average ``w``, ``w v`` and ``w v^2`` by an integer factor per axis, filter them on the coarse grid
with the kernel std divided by the factor (minus the box's own variance), form mean and variance there
and interpolate those (and G*w) back linearly. Because numerator and denominator are both block means,
the ratio is still a proper weighted mean; against full-resolution filtering the local std differs by
< 1 % when the kernel std stays >= 4 coarse voxels (tests/preprocessing/test_noise.py checks this).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

#: Kernel radius in standard deviations (scipy's ``truncate``); 3 keeps 99.7 % of the mass per axis.
KERNEL_TRUNCATE = 3.0


def downsample_factors(std_voxels_zyx: np.ndarray, working_std_voxels: float | None) -> tuple[int, int, int]:
    """Largest integer factor per axis that keeps the kernel std >= ``working_std_voxels`` coarse voxels.

    Args:
        std_voxels_zyx: kernel std per array axis ``(z, y, x)`` in voxels.
        working_std_voxels: the smallest kernel std (in coarse voxels) accepted, or None for no reduction.
    """
    if working_std_voxels is None:
        return (1, 1, 1)
    factors = (max(1, math.floor(float(std) / working_std_voxels)) for std in std_voxels_zyx)
    return tuple(factors)  # type: ignore[return-value]


def _block_mean(array: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Mean over blocks of ``factors`` voxels (float64); the array is zero-padded to a multiple of them.

    Summed axis by axis over strided slices, which is several times faster than a 6D reshape-mean.
    """
    padded_shape = [
        math.ceil(size / factor) * factor for size, factor in zip(array.shape, factors, strict=True)
    ]
    padding = [(0, padded - size) for padded, size in zip(padded_shape, array.shape, strict=True)]
    result = np.pad(array, padding) if any(after for _, after in padding) else array
    for axis, factor in enumerate(factors):
        if factor == 1:
            continue
        slices = [(slice(None),) * axis + (slice(offset, None, factor),) for offset in range(factor)]
        total = result[slices[0]].astype(np.float64)
        for block_slice in slices[1:]:
            total += result[block_slice]
        result = total
    return result.astype(np.float64, copy=False) / math.prod(factors)


def _upsample_linear(coarse: np.ndarray, factors: tuple[int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    """Separable linear interpolation (float32) from block centres back to the fine grid of ``shape``.

    Fine voxel i of an axis with factor f lies at coarse coordinate (i + 0.5) / f - 0.5 (block centres);
    coordinates beyond the first/last block centre take the edge value.
    """
    result = coarse.astype(np.float32)
    for axis, (factor, size) in enumerate(zip(factors, shape, strict=True)):
        if factor == 1:
            result = result[(slice(None),) * axis + (slice(0, size),)]
            continue
        coarse_size = result.shape[axis]
        position = np.clip((np.arange(size) + 0.5) / factor - 0.5, 0.0, coarse_size - 1)
        lower = np.floor(position).astype(np.intp)
        upper = np.minimum(lower + 1, coarse_size - 1)
        fraction = (
            (position - lower).astype(np.float32).reshape([-1 if index == axis else 1 for index in range(3)])
        )
        lower_values = np.take(result, lower, axis=axis)
        upper_values = np.take(result, upper, axis=axis)
        upper_values -= lower_values
        upper_values *= fraction
        lower_values += upper_values
        result = lower_values
    return result


def _gaussian(array: np.ndarray, std_voxels: list[float] | np.ndarray) -> np.ndarray:
    return ndimage.gaussian_filter(
        array.astype(np.float64, copy=False), std_voxels, mode="constant", cval=0.0, truncate=KERNEL_TRUNCATE
    )


def _coarse_std(std_voxels_zyx: np.ndarray, factors: tuple[int, int, int]) -> list[float]:
    """Kernel std on the coarse grid; a block mean of f voxels is itself a box of variance (f^2 - 1) / 12."""
    return [
        math.sqrt(max(float(std) ** 2 - (factor**2 - 1) / 12.0, 0.0)) / factor
        for std, factor in zip(std_voxels_zyx, factors, strict=True)
    ]


def local_weighted_moments(
    values: np.ndarray,
    weights: np.ndarray,
    std_voxels_zyx: np.ndarray,
    factors: tuple[int, int, int],
    min_weight_density: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local weighted mean and variance by normalised convolution (three Gaussian filters).

        m_i = sum_j g_ij w_j v_j / sum_j g_ij w_j = [G*(w v) / G*w]_i,
        s_i^2 = sum_j g_ij w_j (v_j - m_i)^2 / sum_j g_ij w_j = [G*(w v^2) / G*w]_i - m_i^2,

    i.e. the weighted variance about the local mean at the output voxel (the second form is an identity,
    evaluated in float64). With ``factors`` > 1 the three products are block-averaged, filtered and divided
    on the coarse grid, and only m, s^2 and G*w are interpolated back (linear, float32).

    Args:
        values: float array ``(z, y, x)``.
        weights: boolean or float array ``(z, y, x)`` with values in [0, 1] (0 = ignore the voxel).
        std_voxels_zyx: kernel std per axis ``(z, y, x)`` in (fine-grid) voxels.
        factors: block-averaging factor per axis (see :func:`downsample_factors`).
        min_weight_density: G*w below this (the local fraction of usable voxels, in [0, 1]) counts as
            "no data": mean and variance are set to 0 there and ``valid`` is False.

    Returns:
        ``(mean, variance, valid)``: float arrays of the input's shape and the boolean validity map.
    """
    # Products in float32 (8 M voxels: 32 MB each); block sums, filters and ratios run in float64.
    weights = weights.astype(np.float32)
    weighted = weights * values.astype(np.float32, copy=False)
    products = [weights, weighted, weighted * values]
    if factors == (1, 1, 1):
        density, first, second = (_gaussian(product, std_voxels_zyx) for product in products)
    else:
        coarse_std = _coarse_std(std_voxels_zyx, factors)
        density, first, second = (
            _gaussian(_block_mean(product, factors), coarse_std) for product in products
        )
    del products, weighted
    usable = density > 0.5 * min_weight_density  # coarse-grid margin before interpolation
    mean = np.zeros(density.shape, dtype=np.float64)
    np.divide(first, density, out=mean, where=usable)
    variance = np.zeros(density.shape, dtype=np.float64)
    np.divide(second, density, out=variance, where=usable)
    variance -= mean**2
    np.maximum(variance, 0.0, out=variance)  # rounding can make a zero variance slightly negative
    if factors != (1, 1, 1):
        shape = values.shape
        mean, variance, density = (
            _upsample_linear(array, factors, shape) for array in (mean, variance, density)
        )
    valid = density >= min_weight_density
    return np.where(valid, mean, 0.0), np.where(valid, variance, 0.0), valid
