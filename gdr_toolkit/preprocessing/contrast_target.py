"""Contrast-signal target (eq. 2), the scale gamma and the inverse of eq. 1 at inference.

Training (paper section 3.2, documentation/method.md section 2):

    p_SD = f(z_SD) = sigmoid(w z_SD + b0),   f(sigma_LD) = 0.01,  f(4 sigma_LD) = 0.99          (eq. 2)
    => w = 2 logit(0.99) / (3 sigma_LD) ~ 3.0637 / sigma_LD,   b0 = logit(0.01) - w sigma_LD ~ -7.659
    y_SD = p_SD * z_SD                                                                       (target)
    gamma = (1/N) sum_i <b_i, s_SD,i> / <b_i, s_LD,i>                       (scale stored with the model)

Inference (paper section 3.4 "we revert the noise normalization (1)", documentation/method.md section 5).
Eq. 1 maps the SD subtraction to z_SD = sigma_LD (z~_SD - m_SD) / s_SD, so a prediction yhat of y_SD is in
those units and its exact inverse is (z~_SD - m_SD) = yhat * s_SD / sigma_LD. s_SD is not available at test
time; the training-set ratio gamma of mean SD to mean LD local noise in the brain makes gamma * s_LD the
estimate of s_SD. Hence

    y~ = gamma * s_LD * yhat / sigma_LD.

The paper (and documentation/method.md section 5) print y~ = gamma * s_LD * yhat without the 1 / sigma_LD.
That is not dimensionally consistent with eq. 1 as printed (yhat already carries the factor sigma_LD, so the
printed form returns the contrast multiplied by sigma_LD, e.g. ~30x too small for sigma_LD ~ 0.03); it would
only be right if eq. 1 had no sigma_LD factor. tests/preprocessing/test_contrast_target.py recovers a known
contrast signal with the form above and shows that the printed form is off by sigma_LD. Without noise
normalisation z = z~ and y~ = yhat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gdr_toolkit.preprocessing.array_checks import require_brain_mask, require_positive, require_volume

LOW_PROBABILITY = 0.01  # f(sigma_LD), eq. 2
HIGH_PROBABILITY = 0.99  # f(4 sigma_LD), eq. 2
LOW_POINT_SIGMAS = 1.0
HIGH_POINT_SIGMAS = 4.0


def _logit(probability: float) -> float:
    return math.log(probability / (1.0 - probability))


@dataclass(frozen=True)
class ContrastMaskParameters:
    """Slope and offset of the CE mask f(z) = sigmoid(slope * z + offset) of eq. 2.

    Attributes:
        slope: w, in 1 / (units of z); 2 logit(0.99) / (3 sigma_LD) ~ 3.0637 / sigma_LD.
        offset: b0 (dimensionless); logit(0.01) - w sigma_LD ~ -7.6590, independent of sigma_LD.
    """

    slope: float
    offset: float


def contrast_mask_parameters(noise_sigma_ld: float) -> ContrastMaskParameters:
    """w and b0 of eq. 2 such that f(sigma_LD) = 0.01 and f(4 sigma_LD) = 0.99.

    Args:
        noise_sigma_ld: sigma_LD, the noise std of the LD subtraction (units of z), > 0.
    """
    noise_sigma_ld = require_positive(noise_sigma_ld, "noise_sigma_ld")
    slope = (_logit(HIGH_PROBABILITY) - _logit(LOW_PROBABILITY)) / (
        (HIGH_POINT_SIGMAS - LOW_POINT_SIGMAS) * noise_sigma_ld
    )
    offset = _logit(LOW_PROBABILITY) - slope * LOW_POINT_SIGMAS * noise_sigma_ld
    return ContrastMaskParameters(slope=slope, offset=offset)


def _require_sd_input(array: np.ndarray | None, name: str) -> np.ndarray:
    if array is None:
        raise ValueError(
            f"{name} is None: it is derived from the standard-dose scan, which only training cases have; "
            "this step cannot run on a test case."
        )
    return require_volume(array, name)


@dataclass(frozen=True, eq=False)
class ContrastTarget:
    """Training target of one case (paper section 3.2).

    Attributes:
        probability: p_SD, float32 ``(z, y, x)`` in [0, 1], the CE mask of eq. 2 (also a loss weight).
        signal: y_SD = p_SD * z_SD, float32 ``(z, y, x)``, units of z_SD.
    """

    probability: np.ndarray
    signal: np.ndarray


def contrast_target(normalised_subtraction_sd: np.ndarray | None, noise_sigma_ld: float) -> ContrastTarget:
    """CE mask p_SD = sigmoid(w z_SD + b0) (eq. 2) and target y_SD = p_SD * z_SD.

    Args:
        normalised_subtraction_sd: z_SD, float array ``(z, y, x)`` (eq. 1 output, or z~_SD without noise
            normalisation). Required: None raises ValueError (no SD scan at test time).
        noise_sigma_ld: sigma_LD (units of z), > 0.

    Returns:
        :class:`ContrastTarget`.
    """
    subtraction = _require_sd_input(normalised_subtraction_sd, "normalised_subtraction_sd")
    parameters = contrast_mask_parameters(noise_sigma_ld)
    with np.errstate(all="raise", under="ignore"):
        logits = parameters.slope * subtraction.astype(np.float64) + parameters.offset
        # Stable sigmoid: exp of a non-positive argument never overflows.
        exp_negative_abs = np.exp(-np.abs(logits))
        probability = np.where(
            logits >= 0, 1.0 / (1.0 + exp_negative_abs), exp_negative_abs / (1.0 + exp_negative_abs)
        )
        signal = probability * subtraction
    return ContrastTarget(probability=probability.astype(np.float32), signal=signal.astype(np.float32))


def gamma_statistic(
    brain_mask: np.ndarray, local_std_ld: np.ndarray, local_std_sd: np.ndarray | None
) -> float:
    """Per-case term of gamma: <b, s_SD> / <b, s_LD> (paper section 3.4), ratio of brain-summed local stds.

    Args:
        brain_mask: boolean (or 0/1) array ``(z, y, x)``, b.
        local_std_ld: s_LD, float array ``(z, y, x)``, > 0 in the brain (z~ units).
        local_std_sd: s_SD, float array of the same shape. Required: None raises ValueError.

    Returns:
        The ratio (dimensionless, > 0); reduce a list of them with :func:`reduce_gamma`.
    """
    local_std_sd = _require_sd_input(local_std_sd, "local_std_sd")
    local_std_ld = require_volume(local_std_ld, "local_std_ld", local_std_sd.shape)
    mask = require_brain_mask(brain_mask, local_std_sd.shape)
    denominator = float(np.sum(local_std_ld[mask], dtype=np.float64))
    if not denominator > 0.0:
        raise ValueError(f"local_std_ld sums to {denominator!r} inside brain_mask; expected > 0.")
    numerator = float(np.sum(local_std_sd[mask], dtype=np.float64))
    return require_positive(numerator / denominator, "gamma statistic <b, s_SD> / <b, s_LD>")


def reduce_gamma(statistics: Sequence[float]) -> float:
    """gamma = mean of per-case ratios from :func:`gamma_statistic` over the training cases.

    Args:
        statistics: one positive finite ratio per training case (at least one).

    Returns:
        gamma (dimensionless, > 0).
    """
    values = list(statistics)
    if not values:
        raise ValueError("statistics is empty: gamma needs at least one training case.")
    for index, value in enumerate(values):
        require_positive(value, f"statistics[{index}]")
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def revert_noise_normalisation(
    prediction: np.ndarray,
    local_std_ld: np.ndarray | None,
    noise_sigma_ld: float,
    gamma: float,
    noise_normalised: bool = True,
) -> np.ndarray:
    """Inverse of eq. 1 at inference: y~ = gamma * s_LD * yhat / sigma_LD (y~ = yhat without eq. 1).

    See the module docstring for the derivation and why 1 / sigma_LD is included.

    Args:
        prediction: yhat, float array ``(z, y, x)``, the network output in units of z_SD.
        local_std_ld: s_LD, float array of the same shape (z~ units), > 0; may be None only when
            ``noise_normalised`` is False.
        noise_sigma_ld: sigma_LD (z~ units), > 0.
        gamma: training-set scale from :func:`reduce_gamma`, > 0.
        noise_normalised: whether the model was trained on noise-normalised data.

    Returns:
        y~, float32 ``(z, y, x)``, contrast signal in the units of the percentile-normalised images
        (add to x_PC for the synthetic SD, to x_LD for SD+).
    """
    prediction = require_volume(prediction, "prediction")
    if not noise_normalised:
        return prediction.astype(np.float32)
    if local_std_ld is None:
        raise ValueError("local_std_ld is None: reverting eq. 1 needs s_LD (noise_normalised=True).")
    local_std_ld = require_volume(local_std_ld, "local_std_ld", prediction.shape)
    factor = require_positive(gamma, "gamma") / require_positive(noise_sigma_ld, "noise_sigma_ld")
    with np.errstate(all="raise", under="ignore"):
        reverted = factor * local_std_ld.astype(np.float64) * prediction
    return reverted.astype(np.float32)
