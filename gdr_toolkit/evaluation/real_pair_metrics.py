"""Metrics of a real PC/SD pair whose low dose was synthesised (``benchmarks/real_pair_study.py``).

Everything is in PC's intensity frame on PC's grid: x_PC, the reference x_SD' (SD registered and fitted
to PC's frame), and an image x (x_LD, the synthesised SD, SD+).

Enhancing structures of a real pair (it has no lesion masks): the connected components (26-neighbourhood)
of {z_SD > 4 sigma_SD} inside the brain with at least 10 voxels, z_SD = x_SD' - x_PC and sigma_SD its
noise std from the negative part in the brain. ``sigma`` in the rows below is the low dose's noise,
sigma_LD = the noise std of x_LD - x_PC (negative part in the brain).

Per image: PSNR in the brain (peak: x_SD''s brain maximum), c_bar per structure (paper section 4) and its
median, voxel-pooled contrast recovery sum_E (x - x_PC) / sum_E (x_SD' - x_PC) over all structure
voxels E, the median of x - x_PC in the brain outside the structures (dilated by 2 voxels) in units of
sigma, and the volume outside the brain where x - x_PC > 4 sigma (ml).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from gdr_toolkit.evaluation.metrics import psnr, relative_enhancement
from gdr_toolkit.preprocessing.noise import estimate_noise_sigma

STRUCTURE_SIGMAS = 4.0
MIN_STRUCTURE_VOXELS = 10
STRUCTURE_MARGIN_VOXELS = 2
OUTSIDE_SIGMAS = 4.0


def enhancing_structures(
    subtraction: np.ndarray, brain: np.ndarray, sigma: float, min_voxels: int = MIN_STRUCTURE_VOXELS
) -> np.ndarray:
    """Labels 1..K of the components of {subtraction > 4 sigma} in the brain with >= ``min_voxels`` voxels.

    Args:
        subtraction: z_SD = x_SD' - x_PC, float array ``(z, y, x)``.
        brain: boolean array of the same shape.
        sigma: noise std of z_SD.
        min_voxels: smallest component kept.

    Returns:
        int32 labels, 0 outside the structures, numbered by decreasing size.
    """
    labels, count = ndimage.label(brain & (subtraction > STRUCTURE_SIGMAS * sigma), np.ones((3, 3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    kept = [index + 1 for index in np.argsort(-sizes, kind="stable") if sizes[index] >= min_voxels]
    lookup = np.zeros(count + 1, dtype=np.int32)
    lookup[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
    return lookup[labels]


@dataclass(frozen=True)
class ImageMetrics:
    """The row of one image (module docstring)."""

    psnr_brain_db: float
    c_bar_median: float
    pooled_recovery: float
    median_signal_outside_sigma: float
    outside_brain_ml: float

    def to_json_dict(self) -> dict[str, float]:
        return asdict(self)


def low_dose_sigma(low_dose: np.ndarray, pre_contrast: np.ndarray, brain: np.ndarray) -> float:
    """sigma_LD: noise std of x_LD - x_PC from its negative part in the brain."""
    return estimate_noise_sigma((low_dose - pre_contrast).astype(np.float32), brain)


def image_metrics(
    image: np.ndarray,
    pre_contrast: np.ndarray,
    reference: np.ndarray,
    brain: np.ndarray,
    structures: np.ndarray,
    sigma: float,
    voxel_ml: float,
) -> ImageMetrics:
    """The metrics of ``image`` against ``reference`` (all arrays ``(z, y, x)`` in PC's frame).

    Args:
        image: x (x_LD, synthesised SD or SD+).
        pre_contrast: x_PC.
        reference: x_SD'.
        brain: boolean brain mask.
        structures: labels of :func:`enhancing_structures`.
        sigma: sigma_LD (:func:`low_dose_sigma`).
        voxel_ml: volume of one voxel in ml.
    """
    image = image.astype(np.float64)
    signal = image - pre_contrast
    enhancing = structures > 0
    c_bars = [
        relative_enhancement(image, reference, pre_contrast, structures == label)[0]
        for label in range(1, int(structures.max()) + 1)
    ]
    pooled_reference = float(np.sum(reference[enhancing] - pre_contrast[enhancing]))
    near = (
        ndimage.binary_dilation(enhancing, iterations=STRUCTURE_MARGIN_VOXELS)
        if enhancing.any()
        else enhancing
    )
    outside = brain & ~near
    return ImageMetrics(
        psnr_brain_db=psnr(reference, image, float(reference[brain].max()), brain),
        c_bar_median=float(np.nanmedian(c_bars)) if c_bars else math.nan,
        pooled_recovery=float(np.sum(signal[enhancing])) / pooled_reference
        if pooled_reference > 0
        else math.nan,
        median_signal_outside_sigma=float(np.median(signal[outside])) / sigma if outside.any() else math.nan,
        outside_brain_ml=float(np.sum(~brain & (signal > OUTSIDE_SIGMAS * sigma))) * voxel_ml,
    )
