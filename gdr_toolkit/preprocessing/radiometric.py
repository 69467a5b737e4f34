"""Radiometric registration: one robust scalar per contrast-enhanced scan (paper section 3.1, ref. [9]).

After the coarse percentile normalisation a CE scan and the PC scan still differ by a global intensity
factor. We estimate one scalar ``a`` so that ``a * x_CE`` matches ``x_PC`` in *non-enhancing* brain:

    a = argmin_a  sum_{j in b} rho((a [x_CE]_j - [x_PC]_j) / scale)

Enhancing voxels (lesions, vessels, dura) have large positive residuals and are outliers of this fit, so
least squares (rho(r) = r^2) is biased upwards in ``x_CE`` and hence downwards in ``a``. We solve the
M-estimation problem by iteratively reweighted least squares (IRLS): with weights w_j = psi(u_j)/u_j,

    a <- sum_j w_j x_CE,j x_PC,j / sum_j w_j x_CE,j^2,

starting from the median voxel ratio x_PC / x_CE (a robust start that redescending losses need), and
re-estimating the residual scale every iteration as 1.4826 * MAD (median absolute deviation from the
median), the consistent estimator of a Gaussian standard deviation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gdr_toolkit.preprocessing.array_checks import require_brain_mask, require_volume

logger = logging.getLogger(__name__)

RobustLoss = Literal["tukey", "huber", "cauchy"]

#: Tuning constants giving 95 % asymptotic efficiency under Gaussian noise (in units of the residual scale).
DEFAULT_TUNING_CONSTANTS: dict[str, float] = {"tukey": 4.685, "huber": 1.345, "cauchy": 2.385}
MAD_TO_STD = 1.482602218505602  # 1 / Phi^-1(0.75)
#: A voxel is an inlier when its final residual is within this many robust residual scales (loss-independent).
INLIER_RESIDUAL_SCALES = 3.0


@dataclass(frozen=True)
class RadiometricOptions:
    """Settings of :func:`estimate_radiometric_scale`.

    Attributes:
        loss: robust loss rho. ``"tukey"`` (biweight, default) rejects gross outliers such as enhancing
            lesions completely; ``"huber"`` keeps a bounded influence; ``"cauchy"`` is in between.
        tuning_constant: threshold in units of the residual scale; None picks the 95 %-efficiency value
            of ``loss`` (tukey 4.685, huber 1.345, cauchy 2.385).
        max_iterations: IRLS iteration cap (default 50; typical convergence takes < 15).
        relative_tolerance: stop when |a_new - a| <= relative_tolerance * |a| (default 1e-6).
    """

    loss: RobustLoss = "tukey"
    tuning_constant: float | None = None
    max_iterations: int = 50
    relative_tolerance: float = 1e-6

    def __post_init__(self) -> None:
        if self.loss not in DEFAULT_TUNING_CONSTANTS:
            raise ValueError(f"loss must be one of {sorted(DEFAULT_TUNING_CONSTANTS)}, got {self.loss!r}.")
        if self.tuning_constant is not None and not self.tuning_constant > 0:
            raise ValueError(f"tuning_constant must be > 0 or None, got {self.tuning_constant!r}.")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations!r}.")
        if not self.relative_tolerance > 0:
            raise ValueError(f"relative_tolerance must be > 0, got {self.relative_tolerance!r}.")

    @property
    def constant(self) -> float:
        """The tuning constant in use (explicit or the loss's default)."""
        return (
            self.tuning_constant if self.tuning_constant is not None else DEFAULT_TUNING_CONSTANTS[self.loss]
        )


@dataclass(frozen=True)
class RadiometricResult:
    """Result of :func:`estimate_radiometric_scale`.

    Attributes:
        scale: the factor a (dimensionless, > 0); ``a * x_CE`` is radiometrically aligned with ``x_PC``.
        iterations: IRLS iterations performed.
        converged: True when the relative change of a fell below the tolerance within the cap.
        inlier_fraction: fraction of brain voxels whose final residual |a x_CE - x_PC| is at most 3 robust
            residual scales (99.7 % under Gaussian noise, whatever the loss); enhancing voxels and
            artefacts are the outliers, so 1 - inlier_fraction roughly measures the enhancing volume.
        residual_scale: final robust residual scale (1.4826 * MAD), in the images' intensity units.
    """

    scale: float
    iterations: int
    converged: bool
    inlier_fraction: float
    residual_scale: float


def robust_weights(standardised_residuals: np.ndarray, loss: RobustLoss, constant: float) -> np.ndarray:
    """IRLS weights psi(u)/u of ``loss`` for residuals ``u`` already divided by the residual scale.

    Args:
        standardised_residuals: float64 array of residual / scale (any shape).
        loss: ``"tukey"``, ``"huber"`` or ``"cauchy"``.
        constant: the tuning constant c (> 0), in residual scales.

    Returns:
        float64 array of weights in [0, 1], same shape.
    """
    ratio = np.abs(standardised_residuals) / constant
    if loss == "tukey":
        return np.where(ratio < 1.0, (1.0 - ratio**2) ** 2, 0.0)
    if loss == "huber":
        return 1.0 / np.maximum(ratio, 1.0)
    if loss == "cauchy":
        return 1.0 / (1.0 + ratio**2)
    raise ValueError(f"loss must be one of {sorted(DEFAULT_TUNING_CONSTANTS)}, got {loss!r}.")


def _residual_scale(residuals: np.ndarray) -> float:
    """1.4826 * median(|r - median(r)|): a Gaussian-consistent robust standard deviation."""
    return float(MAD_TO_STD * np.median(np.abs(residuals - np.median(residuals))))


def _initial_scale(contrast_enhanced: np.ndarray, pre_contrast: np.ndarray) -> float:
    """Median voxel ratio x_PC / x_CE over voxels with x_CE > 1e-6 max(x_CE) (robust start for IRLS)."""
    peak = float(np.max(contrast_enhanced))
    if not peak > 0.0:
        raise ValueError("contrast_enhanced has no positive value inside brain_mask; cannot fit a scale.")
    positive = contrast_enhanced > 1e-6 * peak
    return float(np.median(pre_contrast[positive] / contrast_enhanced[positive]))


def _irls(
    ce_values: np.ndarray, pc_values: np.ndarray, options: RadiometricOptions
) -> tuple[float, int, bool]:
    """IRLS for a in a x_CE ~ x_PC; returns (a, iterations, converged). Inputs: float64 brain voxels."""
    scale = _initial_scale(ce_values, pc_values)
    for iteration in range(1, options.max_iterations + 1):
        residuals = scale * ce_values - pc_values
        residual_scale = _residual_scale(residuals)
        if residual_scale == 0.0:  # exact fit on more than half of the voxels
            return scale, iteration, True
        weights = robust_weights(residuals / residual_scale, options.loss, options.constant)
        denominator = float(np.sum(weights * ce_values**2))
        if denominator <= 0.0:
            raise ValueError("radiometric fit degenerate: every brain voxel got zero weight.")
        new_scale = float(np.sum(weights * ce_values * pc_values)) / denominator
        change, scale = abs(new_scale - scale), new_scale
        if change <= options.relative_tolerance * abs(scale):
            return scale, iteration, True
    return scale, options.max_iterations, False


def estimate_radiometric_scale(
    contrast_enhanced: np.ndarray,
    pre_contrast: np.ndarray,
    brain_mask: np.ndarray,
    options: RadiometricOptions | None = None,
) -> RadiometricResult:
    """Fit a robust scalar a with a * x_CE ~ x_PC in non-enhancing brain (paper section 3.1).

    Args:
        contrast_enhanced: x_CE, array ``(z, y, x)`` (LD or SD scan on the PC grid, after percentile
            normalisation), finite.
        pre_contrast: x_PC, array of the same shape, finite.
        brain_mask: boolean (or 0/1) array of the same shape, the brain mask b.
        options: :class:`RadiometricOptions`; None uses the defaults (Tukey biweight, IRLS).

    Returns:
        :class:`RadiometricResult`. Multiply the CE scan by ``result.scale`` before subtracting.

    Raises:
        ValueError: non-finite or misshaped input, empty mask, no positive CE intensity in the brain, or a
            degenerate fit (all weights zero, or a <= 0: the scans do not resemble each other).
    """
    options = options or RadiometricOptions()
    contrast_enhanced = require_volume(contrast_enhanced, "contrast_enhanced")
    pre_contrast = require_volume(pre_contrast, "pre_contrast", contrast_enhanced.shape)
    mask = require_brain_mask(brain_mask, contrast_enhanced.shape)
    ce_values = contrast_enhanced[mask].astype(np.float64)
    pc_values = pre_contrast[mask].astype(np.float64)
    with np.errstate(all="raise", under="ignore"):
        scale, iterations, converged = _irls(ce_values, pc_values, options)
        residuals = scale * ce_values - pc_values
        residual_scale = _residual_scale(residuals)
    if not scale > 0.0:
        raise ValueError(
            f"radiometric scale came out as {scale!r} (expected > 0): the CE and PC scans do not match."
        )
    if not converged:
        logger.warning("Radiometric IRLS did not converge in %d iterations (a = %.6g).", iterations, scale)
    if residual_scale > 0.0:
        inlier = np.abs(residuals) <= INLIER_RESIDUAL_SCALES * residual_scale
    else:
        inlier = residuals == 0.0
    return RadiometricResult(
        scale=scale,
        iterations=iterations,
        converged=converged,
        inlier_fraction=float(np.mean(inlier)),
        residual_scale=residual_scale,
    )
