"""Image-quality and contrast-enhancement metrics (paper section 4; documentation/method.md s. 6).

Pure numpy functions on arrays ``(z, y, x)`` that already share one grid and one intensity frame (see
:mod:`gdr_toolkit.evaluation.case_evaluation` for how the frame is fixed). Conventions:

- ``reference`` is the acquired standard-dose scan x_SD, ``prediction`` the image x under test, and
  ``pre_contrast`` the pre-contrast scan x_PC.
- PSNR over a region R: ``10 log10(peak^2 / MSE_R)`` with ``MSE_R = mean_{i in R} (x_i - x_SD,i)^2``.
  The peak is passed in explicitly (the evaluation uses the reference's maximum inside the brain); a zero
  MSE gives ``inf`` (the JSON summary writes ``null``).
- SSIM: Wang et al. 2004 with a 3D Gaussian window (std ``sigma`` voxels, truncated at 3.5 std, i.e.
  radius 5 voxels for sigma 1.5), population (co)variances, ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2`` with
  the data range L; filtering uses mirror ("reflect", half-sample symmetric) boundaries. This is the map
  ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=L, full=True)`` computes (tested).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

SSIM_TRUNCATE = 3.5  # Gaussian window truncated at 3.5 std (as scikit-image)


def _check_pair(reference: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    if reference.shape != prediction.shape:
        raise ValueError(
            f"reference and prediction must have the same shape, got {reference.shape} and {prediction.shape}."
        )
    if not (np.isfinite(reference).all() and np.isfinite(prediction).all()):
        raise ValueError("reference and prediction must be finite everywhere (NaN or inf found).")
    return reference, prediction


def _check_mask(mask: np.ndarray | None, shape: tuple[int, ...], name: str) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {mask.shape}.")
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError(f"{name} is empty (no voxel set).")
    return mask


def mean_squared_error(
    reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None = None
) -> float:
    """``mean_{i in mask} (prediction_i - reference_i)^2`` (whole array when ``mask`` is None).

    Args:
        reference: array ``(z, y, x)`` (any shape), finite.
        prediction: array of the same shape, finite.
        mask: optional boolean array of the same shape, at least one voxel set.
    """
    reference, prediction = _check_pair(reference, prediction)
    region = _check_mask(mask, reference.shape, "mask")
    difference = prediction[region] - reference[region]
    return float(np.mean(difference * difference))


def psnr(reference: np.ndarray, prediction: np.ndarray, peak: float, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(peak^2 / MSE)`` over ``mask`` (whole array if None).

    Args:
        reference: array ``(z, y, x)``, the standard-dose scan in the evaluation frame.
        prediction: array of the same shape.
        peak: the peak value, in the arrays' intensity units (> 0).
        mask: optional boolean region (PSNR_B: brain mask; PSNR_L: one lesion's voxels).

    Returns:
        PSNR in dB; ``inf`` when the images agree exactly inside the region.
    """
    if not (math.isfinite(peak) and peak > 0):
        raise ValueError(f"peak must be a finite positive number, got {peak!r}.")
    error = mean_squared_error(reference, prediction, mask)
    if error == 0.0:
        return math.inf
    return float(10.0 * math.log10(peak * peak / error))


def ssim_map(
    reference: np.ndarray,
    prediction: np.ndarray,
    data_range: float,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> np.ndarray:
    """Local SSIM (Wang et al. 2004) with a Gaussian window, per voxel.

    ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))`` where the
    local means, variances and covariance are Gaussian-weighted (std ``sigma`` voxels along every axis,
    truncated at 3.5 std, mirror boundaries) population moments, ``C1 = (k1 data_range)^2`` and
    ``C2 = (k2 data_range)^2``.

    Args:
        reference: array ``(z, y, x)`` (any dimension), finite.
        prediction: array of the same shape.
        data_range: L, the dynamic range of the images in their units (> 0).
        sigma: Gaussian window std in voxels (1.5).
        k1: constant K1 (0.01).
        k2: constant K2 (0.03).

    Returns:
        float64 array of the input shape.
    """
    reference, prediction = _check_pair(reference, prediction)
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a finite positive number, got {data_range!r}.")

    def smooth(values: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(values, sigma=sigma, mode="reflect", truncate=SSIM_TRUNCATE)

    mean_x, mean_y = smooth(reference), smooth(prediction)
    var_x = smooth(reference * reference) - mean_x * mean_x
    var_y = smooth(prediction * prediction) - mean_y * mean_y
    covariance = smooth(reference * prediction) - mean_x * mean_y
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    numerator = (2.0 * mean_x * mean_y + c1) * (2.0 * covariance + c2)
    denominator = (mean_x * mean_x + mean_y * mean_y + c1) * (var_x + var_y + c2)
    return numerator / denominator


def ssim(
    reference: np.ndarray,
    prediction: np.ndarray,
    data_range: float,
    mask: np.ndarray | None = None,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Mean SSIM: the :func:`ssim_map` averaged over ``mask``.

    The map is computed over the whole volume (so windows near the brain border see the surrounding
    tissue); with ``mask`` None the mean is taken over the volume without a border of the window radius
    (``int(3.5 sigma + 0.5)`` voxels), which is scikit-image's mean SSIM.
    """
    local = ssim_map(reference, prediction, data_range, sigma, k1, k2)
    if mask is not None:
        return float(local[_check_mask(mask, local.shape, "mask")].mean())
    radius = int(SSIM_TRUNCATE * sigma + 0.5)
    if min(local.shape) <= 2 * radius:
        raise ValueError(f"image shape {local.shape} is too small for the SSIM window radius {radius}.")
    interior = tuple(slice(radius, size - radius) for size in local.shape)
    return float(local[interior].mean())


def mean_absolute_error(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray) -> float:
    """``mean_{i in mask} |prediction_i - reference_i|`` (MAE_CE with the contrast-enhancing mask)."""
    reference, prediction = _check_pair(reference, prediction)
    region = _check_mask(mask, reference.shape, "mask")
    return float(np.mean(np.abs(prediction[region] - reference[region])))


def contrast_enhancing_mask(
    reference: np.ndarray, pre_contrast: np.ndarray, brain_mask: np.ndarray, threshold: float
) -> np.ndarray:
    """Contrast-enhancing brain voxels: ``brain & (x_SD - x_PC > threshold)``.

    Args:
        reference: x_SD ``(z, y, x)`` in the evaluation frame.
        pre_contrast: x_PC, same shape and frame.
        brain_mask: boolean brain mask, same shape.
        threshold: enhancement threshold in the arrays' units (the evaluation uses k sigma_SD, with
            sigma_SD the noise level of x_SD - x_PC).

    Returns:
        Boolean array (may be empty).
    """
    reference, pre_contrast = _check_pair(reference, pre_contrast)
    brain = _check_mask(brain_mask, reference.shape, "brain_mask")
    return brain & (reference - pre_contrast > threshold)


def relative_enhancement(
    prediction: np.ndarray, reference: np.ndarray, pre_contrast: np.ndarray, lesion: np.ndarray
) -> tuple[float, float]:
    """Mean and maximal relative enhancement of one lesion L (documentation/method.md section 6).

    ``c_bar(x) = sum_L (x - x_PC) / sum_L (x_SD - x_PC)`` and
    ``c_hat(x) = max_L (x - x_PC) / max_L (x_SD - x_PC)``; 1 means the standard dose's enhancement.

    Args:
        prediction: x ``(z, y, x)``; reference: x_SD; pre_contrast: x_PC (same shape and frame).
        lesion: boolean mask of the lesion's voxels L (at least one).

    Returns:
        ``(c_bar, c_hat)``; a value is NaN when its denominator is not positive (a lesion that does not
        enhance in the reference has no defined relative enhancement).
    """
    reference, prediction = _check_pair(reference, prediction)
    pre_contrast = np.asarray(pre_contrast, dtype=np.float64)
    if pre_contrast.shape != reference.shape:
        raise ValueError(f"pre_contrast must have shape {reference.shape}, got {pre_contrast.shape}.")
    region = _check_mask(lesion, reference.shape, "lesion")
    enhancement = prediction[region] - pre_contrast[region]
    reference_enhancement = reference[region] - pre_contrast[region]
    total, reference_total = float(enhancement.sum()), float(reference_enhancement.sum())
    peak, reference_peak = float(enhancement.max()), float(reference_enhancement.max())
    c_bar = total / reference_total if reference_total > 0 else math.nan
    c_hat = peak / reference_peak if reference_peak > 0 else math.nan
    return c_bar, c_hat
