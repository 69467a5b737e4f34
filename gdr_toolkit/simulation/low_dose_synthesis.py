"""Synthetic low dose from a pre-contrast / standard-dose pair on one grid (pure numerics).

Given x_PC and x_SD resampled onto PC's grid (:mod:`gdr_toolkit.simulation.low_dose_dataset` registers
them), :func:`analyse_pair` measures what the synthesis needs and :func:`synthesise_low_dose` draws one
low-dose image per dose:

1. intensity frame: x_SD' = a * x_SD / B on non-enhancing brain (:mod:`.intensity_frame`);
2. subtraction z = x_SD' - x_PC; its noise sigma_z from the negative part inside the brain
   (:func:`gdr_toolkit.preprocessing.noise.estimate_noise_sigma`), split into the two scans' noise
   covariance functions by cross-covariances of high-pass residuals h: c(h(z), h(x_PC))(t) = -C_PC(t)
   and c(h(z), h(x_SD'))(t) = C_SD(t) where the anatomy of both scans agrees (it cancels in z), scaled so
   that C_PC(0) + C_SD(0) = sigma_z^2;
3. contrast signal y = p * z with p = sigmoid(w z + b0), f(sigma_z) = 0.01, f(4 sigma_z) = 0.99
   (documentation/method.md section 2 with sigma_z): noise in non-enhancing brain is not carried into LD;
4. y_d = dose-scaled y (:func:`gdr_toolkit.simulation.dose_response.scale_enhancement`);
5. noise: a real LD is an acquisition with SD's sequence, independent of PC. x_LD = x_PC + y_d + n shares
   PC's noise, so both of its properties cannot hold at once. Default (``noise_target="subtraction"``):
   x_LD - x_PC gets the noise of a real subtraction, sigma_SD^2 + sigma_PC^2 with covariance C_SD + C_PC
   (k^2 of it is already in y_d = k z), so that sigma_LD and z_LD, what the network conditions on and
   reads, are as on real data. ``"image"``: x_LD's own noise gets SD's level and covariance
   (C_SD - C_PC is added); its subtraction is then too clean. Gaussian noise coloured with the
   covariance (:mod:`.correlated_noise`).

x_LD = x_PC + y_d + n inside the support (the skull-stripped scan's non-zero voxels, or where SD has
data), 0 where SD has no data. Everything is in PC's intensity frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gdr_toolkit.preprocessing.contrast_target import contrast_mask_parameters
from gdr_toolkit.preprocessing.noise import estimate_noise_sigma
from gdr_toolkit.simulation.correlated_noise import coloured_noise, high_pass_residual, noise_cross_covariance
from gdr_toolkit.simulation.dose_response import SignalModel, scale_enhancement
from gdr_toolkit.simulation.intensity_frame import IntensityFrame, apply_intensity_frame, fit_intensity_frame

logger = logging.getLogger(__name__)

NoiseTarget = Literal["subtraction", "image"]

NON_ENHANCING_SIGMAS = 3.0  # |z| below this many sigma_z: voxels that measure the noise
MIN_NOISE_SHARE = 0.05  # neither scan is credited with less than 5 % of the subtraction's noise variance
NOISE_SPLIT_STD_VOXELS = 4.0  # high-pass of the per-scan noise split (wider than the noise correlation)


@dataclass(frozen=True)
class SynthesisOptions:
    """Settings of the low-dose synthesis.

    Attributes:
        signal_model: the dose-response model (:class:`SignalModel`).
        shading_degree: polynomial degree of the log shading field between SD and PC (0: none).
        weight_enhancement: True (default): y = p * z (noise of non-enhancing voxels is not scaled into
            LD); False: y = max(z, 0) everywhere.
        add_noise: add noise (False: x_PC + y_d only; for tests and pictures).
        noise_target: "subtraction" (default): x_LD - x_PC gets the noise of a real subtraction of two
            independent scans, sigma_SD^2 + sigma_PC^2 with covariance C_SD + C_PC, so that sigma_LD and z_LD
            are as on real data (the image x_LD is then noisier than SD: sigma_SD^2 + 2 sigma_PC^2);
            "image": x_LD's own noise is SD's (sigma_SD, C_SD), and x_LD - x_PC is too clean (its noise
            sigma_SD^2 - sigma_PC^2, none when PC is the noisier scan). See documentation/synthetic_low_dose.md.
    """

    signal_model: SignalModel = field(default_factory=SignalModel)
    shading_degree: int = 2
    weight_enhancement: bool = True
    add_noise: bool = True
    noise_target: NoiseTarget = "subtraction"

    def __post_init__(self) -> None:
        if self.noise_target not in ("subtraction", "image"):
            raise ValueError(f"noise_target must be 'subtraction' or 'image', got {self.noise_target!r}.")
        if not 0 <= self.shading_degree <= 4:
            raise ValueError(f"shading_degree must be in [0, 4], got {self.shading_degree}.")


@dataclass(frozen=True)
class PairAnalysis:
    """What :func:`analyse_pair` measured on one PC/SD pair (arrays on PC's grid).

    Attributes:
        pre_contrast: x_PC, float32 ``(z, y, x)``.
        subtraction: z = x_SD' - x_PC, float32, 0 outside the support.
        enhancement: y = p * z (or max(z, 0)), float32, >= 0, 0 outside the support.
        support: boolean, where LD receives signal and noise.
        valid: boolean, where SD has data (LD is 0 elsewhere).
        frame: the fitted intensity frame.
        noise_sigma_subtraction: sigma_z, PC intensity units.
        noise_sigma_pre_contrast, noise_sigma_standard_dose: sigma_PC and sigma_SD (SD in PC's frame).
        autocorrelation: autocorrelation window ``(2r+1,)*3`` (rho(0) = 1) of the noise added for
            ``noise_target="image"``: (C_SD - C_PC) normalised; SD's own where sigma_SD <= sigma_PC.
        subtraction_autocorrelation: the same for ``noise_target="subtraction"``: (C_SD + C_PC) normalised.
        standard_dose_lag1_zyx: SD's noise autocorrelation at lag 1 along z, y, x (on PC's grid).
    """

    pre_contrast: np.ndarray
    subtraction: np.ndarray
    enhancement: np.ndarray
    support: np.ndarray
    valid: np.ndarray
    frame: IntensityFrame
    noise_sigma_subtraction: float
    noise_sigma_pre_contrast: float
    noise_sigma_standard_dose: float
    autocorrelation: np.ndarray
    subtraction_autocorrelation: np.ndarray
    standard_dose_lag1_zyx: tuple[float, float, float]

    def summary(self) -> dict[str, Any]:
        """The scalars, JSON-ready (written into each synthesised case's metadata)."""
        return {
            "radiometric_scale": self.frame.scale,
            "shading_coefficients": list(self.frame.shading_coefficients),
            "noise_sigma_subtraction": self.noise_sigma_subtraction,
            "noise_sigma_pre_contrast": self.noise_sigma_pre_contrast,
            "noise_sigma_standard_dose": self.noise_sigma_standard_dose,
            "noise_autocorrelation_lag1_zyx": list(self.standard_dose_lag1_zyx),
        }


def _lag1(covariance: np.ndarray) -> tuple[float, float, float]:
    radius = covariance.shape[0] // 2
    centre = covariance[radius, radius, radius]
    return (
        float(covariance[radius + 1, radius, radius] / centre),
        float(covariance[radius, radius + 1, radius] / centre),
        float(covariance[radius, radius, radius + 1] / centre),
    )


def split_noise(
    subtraction: np.ndarray,
    pre_contrast: np.ndarray,
    standard_dose: np.ndarray,
    mask: np.ndarray,
    sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise covariance windows (C_PC, C_SD) of the two scans with C_PC(0) + C_SD(0) = sigma^2.

    Args:
        subtraction: z = x_SD' - x_PC, float array ``(z, y, x)``.
        pre_contrast, standard_dose: x_PC and x_SD' (same frame), same shape.
        mask: boolean, non-enhancing brain.
        sigma: the robust noise std of z.

    Returns:
        Two float64 ``(2r+1,)*3`` windows (lag 0 at the centre), squared intensity units. The shares come
        from cross-covariances of high-pass residuals (module docstring); a share is kept within
        [:data:`MIN_NOISE_SHARE`, 1 - :data:`MIN_NOISE_SHARE`] (a warning says when it was clipped), and a
        scan whose own covariance is not measurable gets white noise of its share.
    """
    residuals = [
        high_pass_residual(image, mask, NOISE_SPLIT_STD_VOXELS)
        for image in (subtraction, pre_contrast, standard_dose)
    ]
    covariances = [-noise_cross_covariance(residuals[0], residuals[1], mask)]
    covariances.append(noise_cross_covariance(residuals[0], residuals[2], mask))
    radius = covariances[0].shape[0] // 2
    parts = [float(covariance[radius, radius, radius]) for covariance in covariances]
    share = parts[0] / (parts[0] + parts[1]) if parts[0] + parts[1] > 0 else 0.5
    if not MIN_NOISE_SHARE <= share <= 1 - MIN_NOISE_SHARE:
        logger.warning(
            "noise split: PC's share of the subtraction's noise variance came out %.3f (PC %.4g, SD %.4g); "
            "clipped to [%.2f, %.2f]", share, parts[0], parts[1], MIN_NOISE_SHARE, 1 - MIN_NOISE_SHARE,
        )  # fmt: skip
        share = float(np.clip(share, MIN_NOISE_SHARE, 1 - MIN_NOISE_SHARE))
    result = []
    for covariance, part, target in zip(covariances, parts, (share, 1 - share), strict=True):
        if part <= 0:
            covariance = np.zeros_like(covariance)
            covariance[radius, radius, radius] = 1.0
            part = 1.0
        result.append(covariance * (target * sigma**2 / part))
    return result[0], result[1]


def _added_autocorrelation(pc_covariance: np.ndarray, sd_covariance: np.ndarray) -> np.ndarray:
    """(C_SD - C_PC) / its lag 0; C_SD normalised when SD is not noisier than PC."""
    radius = pc_covariance.shape[0] // 2
    difference = sd_covariance - pc_covariance
    if difference[radius, radius, radius] > 0.05 * sd_covariance[radius, radius, radius]:
        return difference / difference[radius, radius, radius]
    return sd_covariance / max(float(sd_covariance[radius, radius, radius]), 1e-30)


def contrast_signal(
    subtraction: np.ndarray, sigma: float, region: np.ndarray, weighted: bool = True
) -> np.ndarray:
    """y = p z with p = sigmoid(w z + b0), p(sigma) = 0.01, p(4 sigma) = 0.99 (documentation/method.md section
    2 with sigma = sigma_z), or max(z, 0) when not ``weighted``; float32, >= 0, 0 outside ``region``."""
    if weighted:
        parameters = contrast_mask_parameters(sigma)
        with np.errstate(over="ignore"):
            weight = 1.0 / (1.0 + np.exp(-(parameters.slope * subtraction + parameters.offset)))
        subtraction = weight * subtraction
    return np.where(region, np.maximum(subtraction, 0.0), 0.0).astype(np.float32)


def analyse_pair(
    pre_contrast: np.ndarray,
    standard_dose: np.ndarray,
    brain_mask: np.ndarray,
    support: np.ndarray,
    valid: np.ndarray,
    spacing_zyx_mm: np.ndarray,
    options: SynthesisOptions = SynthesisOptions(),
) -> PairAnalysis:
    """Frame fit, subtraction, noise levels, noise correlation and contrast signal of one pair.

    Args:
        pre_contrast: x_PC, float array ``(z, y, x)``.
        standard_dose: x_SD on PC's grid (registered), same shape.
        brain_mask: boolean, the brain (frame fit and noise are measured here, where SD has data).
        support: boolean, where LD may receive signal and noise (skull-stripped: the non-zero voxels).
        valid: boolean, where SD has data.
        spacing_zyx_mm: voxel spacing (z, y, x) in mm.
        options: synthesis settings.

    Raises:
        ValueError: an empty brain inside SD's data, or a pair whose frame or noise cannot be fitted.
    """
    brain = brain_mask & valid & support
    if brain.sum() < 1000:
        raise ValueError(f"only {int(brain.sum())} brain voxels lie where SD has data; need >= 1000.")
    pre_contrast = pre_contrast.astype(np.float32)
    frame = fit_intensity_frame(pre_contrast, standard_dose, brain, spacing_zyx_mm, options.shading_degree)
    framed, _ = apply_intensity_frame(standard_dose, frame, spacing_zyx_mm)
    region = support & valid
    subtraction = np.where(region, framed - pre_contrast, 0.0).astype(np.float32)
    sigma = estimate_noise_sigma(subtraction, brain)
    quiet = brain & (np.abs(subtraction) < NON_ENHANCING_SIGMAS * sigma)
    pc_covariance, sd_covariance = split_noise(subtraction, pre_contrast, framed, quiet, sigma)
    radius = pc_covariance.shape[0] // 2
    sigma_pc = float(np.sqrt(pc_covariance[radius, radius, radius]))
    sigma_sd = float(np.sqrt(sd_covariance[radius, radius, radius]))
    enhancement = contrast_signal(subtraction, sigma, region, options.weight_enhancement)
    lag1 = _lag1(sd_covariance) if sigma_sd > 0 else (0.0, 0.0, 0.0)
    logger.info(
        "pair: scale %.4g, sigma_z %.4g (PC %.4g, SD %.4g), SD noise correlation at lag 1 (z, y, x) %s",
        frame.scale, sigma, sigma_pc, sigma_sd, ", ".join(f"{value:.2f}" for value in lag1),
    )  # fmt: skip
    return PairAnalysis(
        pre_contrast, subtraction, enhancement, support, valid, frame, sigma, sigma_pc, sigma_sd,
        _added_autocorrelation(pc_covariance, sd_covariance),
        (pc_covariance + sd_covariance) / (sigma_pc**2 + sigma_sd**2), lag1,
    )  # fmt: skip


def added_noise_std(
    analysis: PairAnalysis, scaled_enhancement: np.ndarray, target: NoiseTarget = "subtraction"
) -> np.ndarray:
    """Per-voxel std of the noise to add (float32, 0 outside the support and where SD has no data).

    x_PC + y_d = (1 - k) x_PC + k x_SD' with k = y_d / z (0 where z <= sigma_z / 2). ``"subtraction"``:
    x_LD - x_PC = k z + n already holds k^2 sigma_z^2, the rest up to sigma_z^2 = sigma_SD^2 + sigma_PC^2 is
    added. ``"image"``: x_PC + y_d already holds (1 - k)^2 sigma_PC^2 + k^2 sigma_SD^2, the rest up to
    sigma_SD^2 is added.
    """
    subtraction = analysis.subtraction
    share = np.zeros(subtraction.shape, dtype=np.float64)
    big = subtraction > 0.5 * analysis.noise_sigma_subtraction
    share[big] = np.clip(scaled_enhancement[big] / subtraction[big], 0.0, 1.0)
    sigma_pc, sigma_sd = analysis.noise_sigma_pre_contrast, analysis.noise_sigma_standard_dose
    if target == "subtraction":
        missing = (1.0 - share**2) * (sigma_pc**2 + sigma_sd**2)
    else:
        missing = np.maximum(sigma_sd**2 - (1.0 - share) ** 2 * sigma_pc**2 - share**2 * sigma_sd**2, 0.0)
    return np.where(analysis.support & analysis.valid, np.sqrt(missing), 0.0).astype(np.float32)


def synthesise_low_dose(
    analysis: PairAnalysis,
    dose_fraction: float,
    rng: np.random.Generator,
    options: SynthesisOptions = SynthesisOptions(),
) -> np.ndarray:
    """x_LD at ``dose_fraction`` in PC's intensity frame, float32 ``(z, y, x)``.

    Args:
        analysis: the pair (:func:`analyse_pair`).
        dose_fraction: d in (0, 1).
        rng: draws the added noise.
        options: signal model and whether noise is added.

    Returns:
        x_PC + y_d + n where SD has data (y_d and n are 0 outside the support: a skull-stripped scan keeps
        its zeros), and 0 where SD has no data (a real LD would have none there either).
    """
    if not 0 < dose_fraction < 1:
        raise ValueError(f"dose_fraction must be in (0, 1), got {dose_fraction}.")
    scaled = scale_enhancement(
        analysis.pre_contrast, analysis.enhancement, dose_fraction, options.signal_model
    )
    low_dose = analysis.pre_contrast + scaled
    if options.add_noise:
        std = added_noise_std(analysis, scaled, options.noise_target)
        if std.any():
            subtraction = options.noise_target == "subtraction"
            autocorrelation = (
                analysis.subtraction_autocorrelation if subtraction else analysis.autocorrelation
            )
            low_dose = low_dose + std * coloured_noise(low_dose.shape, autocorrelation, rng)
    return np.where(analysis.valid, low_dose, 0.0).astype(np.float32)
