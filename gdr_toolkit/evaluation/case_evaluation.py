"""Metrics of one case: the evaluation frame (intensity alignment, normalisation, peak, CE mask) and the
per-image and per-lesion metrics of every image under test (pure numpy; files are read elsewhere).

Evaluation frame of a case (all arrays ``(z, y, x)`` on the pre-contrast grid):

1. Intensity alignment. Acquired scans (the reference x_SD and the low-dose baseline x_LD) come in their
   own scanner units. With a pre-contrast scan and ``align_acquired_scans`` each is multiplied by its
   robust radiometric scale to x_PC (:func:`~gdr_toolkit.preprocessing.radiometric.estimate_radiometric_scale`,
   Tukey IRLS inside the brain; enhancing voxels are outliers), as the preprocessing does. Predictions are
   already in x_PC's units and are *not* rescaled unless ``align_predictions`` (the paper aligned external
   methods' outputs this way).
2. Normalisation: every image is divided by ``s``, the 95th percentile of x_PC inside the brain (of the
   aligned reference when there is no x_PC), the preprocessing's coarse normalisation. PSNR and SSIM do
   not depend on ``s``; MAE_CE is reported in these units.
3. Peak / data range ``P`` = maximum of the normalised reference inside the brain mask (PSNR and SSIM).
4. Contrast-enhancing (CE) voxels: ``brain & (x_SD - x_PC > k sigma_SD)`` with ``sigma_SD`` the noise
   std of ``x_SD - x_PC`` from its negative part in the brain (median estimator, preprocessing step 7)
   and ``k = ce_threshold_sigmas`` (3).
5. Valid-data mask (optional): where a scan had no data (outside LD's field of view, the predictor's
   ``CASE_valid_mask``) nothing is evaluated: the brain mask becomes ``brain & valid`` (steps 1-4, PSNR_B,
   SSIM, MAE_CE), PSNR_I averages over valid voxels, lesions are cut to their valid voxels, and the image
   under test is replaced by the reference outside ``valid`` before the SSIM windows see it. So a
   prediction that is exact inside the valid region scores as exact, whatever it holds outside.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from gdr_toolkit.evaluation import metrics
from gdr_toolkit.preprocessing.intensity import brain_percentile
from gdr_toolkit.preprocessing.noise import estimate_noise_sigma
from gdr_toolkit.preprocessing.radiometric import estimate_radiometric_scale

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricOptions:
    """Parameters of the metrics (recorded in summary.json).

    Attributes:
        normalisation_percentile: percentile (percent) of x_PC in the brain that maps to 1 (95).
        align_acquired_scans: scale x_SD and x_LD to x_PC's units by robust radiometric registration
            (needs x_PC).
        align_predictions: also scale the predictions to x_PC (for methods that do not output x_PC units).
        ce_threshold_sigmas: k of the CE mask ``x_SD - x_PC > k sigma_SD`` (3).
        ssim_sigma: Gaussian window std in voxels (1.5).
        ssim_k1: SSIM constant K1 (0.01).
        ssim_k2: SSIM constant K2 (0.03).
    """

    normalisation_percentile: float = 95.0
    align_acquired_scans: bool = True
    align_predictions: bool = False
    ce_threshold_sigmas: float = 3.0
    ssim_sigma: float = 1.5
    ssim_k1: float = 0.01
    ssim_k2: float = 0.03

    def __post_init__(self) -> None:
        if not 0.0 < self.normalisation_percentile <= 100.0:
            raise ValueError(
                f"normalisation_percentile must be in (0, 100], got {self.normalisation_percentile}."
            )
        if not self.ce_threshold_sigmas >= 0.0:
            raise ValueError(f"ce_threshold_sigmas must be >= 0, got {self.ce_threshold_sigmas}.")
        if not self.ssim_sigma > 0.0:
            raise ValueError(f"ssim_sigma must be > 0, got {self.ssim_sigma}.")


@dataclass(frozen=True, eq=False)
class EvaluationFrame:
    """The reference side of one case, normalised (see the module docstring).

    Attributes:
        reference: x_SD / s, float64 ``(z, y, x)`` (aligned to x_PC when asked).
        pre_contrast: x_PC / s, or None without a pre-contrast scan.
        brain_mask: boolean ``(z, y, x)``.
        scale: s, in x_PC's raw units.
        reference_alignment: radiometric factor applied to the raw reference (1.0 if none).
        peak: P, the normalised reference's maximum inside the brain.
        noise_sigma: sigma_SD in normalised units (None without x_PC).
        ce_mask: boolean CE mask, or None without x_PC.
        valid_mask: boolean ``(z, y, x)``, where the scans have data (step 5), or None (all valid).
        excluded_brain_voxels: brain voxels left out because they are not valid.
    """

    reference: np.ndarray
    pre_contrast: np.ndarray | None
    brain_mask: np.ndarray
    scale: float
    reference_alignment: float
    peak: float
    noise_sigma: float | None
    ce_mask: np.ndarray | None
    valid_mask: np.ndarray | None = None
    excluded_brain_voxels: int = 0


@dataclass(frozen=True)
class LesionMetrics:
    """Metrics of one lesion (label value ``label``): PSNR_L in dB, c_bar, c_hat (NaN if undefined), and
    ``cnr``, the lesion's standard-dose enhancement mean_L(x_SD - x_PC) / sigma_SD (a property
    of the reference, the same for every image under test; NaN without x_PC or a positive sigma_SD)."""

    label: int
    voxels: int
    psnr_l: float
    c_bar: float
    c_hat: float
    cnr: float = math.nan


@dataclass(frozen=True)
class ImageMetrics:
    """Metrics of one image under test against the reference (NaN where undefined, inf for PSNR of an
    exact match). Units: dB for PSNR, normalised intensity for MAE_CE, dimensionless SSIM."""

    psnr_i: float
    psnr_b: float
    ssim: float
    mae_ce: float
    intensity_alignment: float
    lesions: tuple[LesionMetrics, ...]


def align_scale(image: np.ndarray, pre_contrast: np.ndarray, brain_mask: np.ndarray) -> float:
    """Robust radiometric factor a with ``a * image ~ pre_contrast`` in non-enhancing brain."""
    return estimate_radiometric_scale(image, pre_contrast, brain_mask).scale


def build_frame(
    reference: np.ndarray,
    pre_contrast: np.ndarray | None,
    brain_mask: np.ndarray,
    options: MetricOptions = MetricOptions(),
    valid_mask: np.ndarray | None = None,
) -> EvaluationFrame:
    """Fix the evaluation frame of a case (module docstring, steps 1-5).

    Args:
        reference: raw x_SD ``(z, y, x)`` on the PC grid.
        pre_contrast: raw x_PC of the same shape, or None (then no alignment, CE mask or enhancement).
        brain_mask: boolean/0-1 ``(z, y, x)``, at least one voxel.
        options: :class:`MetricOptions`.
        valid_mask: boolean/0-1 ``(z, y, x)``, 1 where the scans have data, or None (all valid).
    """
    brain = np.asarray(brain_mask).astype(bool)
    valid = None if valid_mask is None else np.asarray(valid_mask).astype(bool)
    if valid is not None and valid.shape != brain.shape:
        raise ValueError(f"valid_mask must have the brain mask's shape {brain.shape}, got {valid.shape}.")
    excluded = 0 if valid is None else int((brain & ~valid).sum())
    brain = brain if valid is None else brain & valid
    if brain.shape != np.shape(reference) or not brain.any():
        raise ValueError(
            f"brain_mask must be a non-empty mask of shape {np.shape(reference)} (inside the valid mask when "
            f"one is given), got shape {brain.shape} with {int(brain.sum())} voxels."
        )
    reference = np.asarray(reference, dtype=np.float64)
    alignment = 1.0
    if pre_contrast is not None and options.align_acquired_scans:
        alignment = align_scale(reference, pre_contrast, brain)
    reference = reference * alignment
    base = reference if pre_contrast is None else np.asarray(pre_contrast, dtype=np.float64)
    scale = brain_percentile(base, brain, options.normalisation_percentile)
    if not scale > 0:
        raise ValueError(
            f"the {options.normalisation_percentile}th brain percentile is {scale}; expected > 0."
        )
    reference = reference / scale
    peak = float(reference[brain].max())
    if not peak > 0:
        raise ValueError(f"the reference's maximum inside the brain is {peak}; expected > 0.")
    if pre_contrast is None:
        return EvaluationFrame(reference, None, brain, scale, alignment, peak, None, None, valid, excluded)
    normalised_pc = np.asarray(pre_contrast, dtype=np.float64) / scale
    try:
        sigma = estimate_noise_sigma(reference - normalised_pc, brain)
    except ValueError as error:
        logger.warning("no noise estimate for x_SD - x_PC (%s); CE mask uses threshold 0", error)
        sigma = 0.0
    ce_mask = metrics.contrast_enhancing_mask(
        reference, normalised_pc, brain, options.ce_threshold_sigmas * sigma
    )
    return EvaluationFrame(
        reference, normalised_pc, brain, scale, alignment, peak, sigma, ce_mask, valid, excluded
    )


def evaluate_image(
    image: np.ndarray,
    frame: EvaluationFrame,
    lesion_labels: np.ndarray | None = None,
    options: MetricOptions = MetricOptions(),
    acquired: bool = False,
) -> ImageMetrics:
    """All metrics of one image under test.

    Args:
        image: raw image ``(z, y, x)`` on the reference grid (a prediction in x_PC units, or x_LD).
        frame: the case's :class:`EvaluationFrame`.
        lesion_labels: integer ``(z, y, x)`` (0 background, one positive value per lesion) or None.
        options: :class:`MetricOptions`.
        acquired: True for an acquired scan (x_LD), aligned like the reference when
            ``align_acquired_scans``; predictions are aligned only with ``align_predictions``.
    """
    image = np.asarray(image, dtype=np.float64)
    align = options.align_acquired_scans if acquired else options.align_predictions
    alignment = 1.0
    if align and frame.pre_contrast is not None:
        alignment = align_scale(image, frame.pre_contrast * frame.scale, frame.brain_mask)
    image = (image * alignment) / frame.scale  # the reference's order of operations: exact matches stay exact
    reference, brain, valid = frame.reference, frame.brain_mask, frame.valid_mask
    if valid is not None:
        image = np.where(valid, image, reference)  # step 5: no error where the scans have no data
    ce_mask = frame.ce_mask if frame.ce_mask is not None and frame.ce_mask.any() else None
    return ImageMetrics(
        psnr_i=metrics.psnr(reference, image, frame.peak, valid),
        psnr_b=metrics.psnr(reference, image, frame.peak, brain),
        ssim=metrics.ssim(
            reference, image, frame.peak, brain, options.ssim_sigma, options.ssim_k1, options.ssim_k2
        ),
        mae_ce=math.nan if ce_mask is None else metrics.mean_absolute_error(reference, image, ce_mask),
        intensity_alignment=alignment,
        lesions=_lesion_metrics(image, frame, lesion_labels),
    )


def _lesion_metrics(
    image: np.ndarray, frame: EvaluationFrame, lesion_labels: np.ndarray | None
) -> tuple[LesionMetrics, ...]:
    if lesion_labels is None:
        return ()
    labels = np.asarray(lesion_labels)
    if labels.shape != image.shape:
        raise ValueError(f"lesion_labels must have shape {image.shape}, got {labels.shape}.")
    results = []
    for label in (int(value) for value in np.unique(labels) if value > 0):
        lesion = labels == label
        if frame.valid_mask is not None:
            lesion &= frame.valid_mask
            if not lesion.any():
                logger.warning("lesion %d lies entirely outside the valid-data mask; not evaluated", label)
                continue
        c_bar = c_hat = cnr = math.nan
        if frame.pre_contrast is not None:
            c_bar, c_hat = metrics.relative_enhancement(image, frame.reference, frame.pre_contrast, lesion)
            if frame.noise_sigma:
                enhancement = float(np.mean(frame.reference[lesion] - frame.pre_contrast[lesion]))
                cnr = enhancement / frame.noise_sigma
        psnr_l = metrics.psnr(frame.reference, image, frame.peak, lesion)
        results.append(LesionMetrics(label, int(lesion.sum()), psnr_l, c_bar, c_hat, cnr))
    return tuple(results)
