"""sigma_LD and s_LD as the network sees them: the noise level on the planned (network) grid.

:func:`~gdr_toolkit.preprocessing.case_preprocessing.preprocess_case` measures the noise of the
subtraction image on PC's grid. The network sees the arrays after
:func:`~gdr_toolkit.preprocessing.resampling.to_network_grid`, whose anti-aliasing and linear
interpolation average neighbouring voxels: for a 0.5 mm scan planned at 1 mm the noise the network sees
is about a third of the noise on PC's grid, for a 3 mm slice direction planned at 1 mm about 0.84 of it.

The noise-reduction factor f of the resampling is *measured*, not modelled: f = sigma(z~_LD on the
network grid) / sigma(z~_LD on PC's grid), both with the case's estimator (``estimate_noise_sigma``)
inside the brain mask (nearest-neighbour on the network grid), where z~_LD = x_LD - x_PC is rebuilt from
the normalised arrays exactly as preprocessing built it. So the network-grid sigma_LD is the same
estimator applied to z~_LD as the network grid holds it. Measuring on the data also holds when the
scanner's noise is already spatially correlated (k-space zero filling, interpolation), where a
white-noise formula would not. z~ rather than eq. 1's z: z's local mean m carries a little of the
enhancement (the exclusion at 2 s keeps the rims of lesions), which is negligible against the noise on
PC's grid but not against the three times smaller noise on a coarser network grid (on a synthetic case
at 0.5 mm: +15 % for z, -3 % for z~).

Then sigma_LD and sigma_SD (the condition input and eq. 1's scale) and the s_LD / s_SD arrays are
multiplied by f. Eq. 1's z is unchanged (sigma_LD and s scale together), and so is the inverse at
inference, y~ = gamma s_LD yhat / sigma_LD, and gamma = <b, s_SD> / <b, s_LD>. The preprocessor and
the predictor both call :func:`on_network_grid_noise` with the plan's spacing before ``to_network_grid``.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase
from gdr_toolkit.preprocessing.noise import NoiseEstimator, estimate_noise_sigma, subtraction_image
from gdr_toolkit.preprocessing.resampling import needs_resampling, to_network_grid

logger = logging.getLogger(__name__)

SCALED_ARRAYS = ("s_ld", "s_sd")


def network_grid_noise_factor(
    arrays: dict[str, np.ndarray],
    pre_contrast: sitk.Image,
    spacing_mm: float,
    estimator: NoiseEstimator = "negative_mad",
) -> float:
    """f = sigma(z_LD on the network grid) / sigma(z_LD on PC's grid) (module docstring).

    Args:
        arrays: (z, y, x) arrays on PC's grid holding ``x_ld``, ``x_pc``, ``brain_mask`` and optionally
            ``valid_mask`` (the noise is measured inside brain & valid: LD is filled with PC outside).
        pre_contrast: PC (its grid).
        spacing_mm: the plan's isotropic spacing (mm).
        estimator: the noise estimator of the case's preprocessing.

    Returns:
        f > 0; exactly 1.0 when PC already has the planned spacing (no resampling).
    """
    if not needs_resampling(pre_contrast, spacing_mm):
        return 1.0
    region = arrays["brain_mask"].astype(bool)
    if "valid_mask" in arrays:
        region &= arrays["valid_mask"].astype(bool)
    subtraction = {
        **arrays,  # to_network_grid crops to the head found in x_pc
        "raw_subtraction": subtraction_image(arrays["x_ld"], arrays["x_pc"]),
        "region": region.astype(np.uint8),
    }
    names = ("raw_subtraction", "region")
    on_grid, _, _ = to_network_grid(subtraction, pre_contrast, spacing_mm, names, frozenset({"region"}))
    native = estimate_noise_sigma(subtraction["raw_subtraction"], region, estimator)
    resampled = estimate_noise_sigma(on_grid["raw_subtraction"], on_grid["region"].astype(bool), estimator)
    return resampled / native


def on_network_grid_noise(
    case: PreprocessedCase,
    pre_contrast: sitk.Image,
    spacing_mm: float,
    estimator: NoiseEstimator = "negative_mad",
) -> PreprocessedCase:
    """The case with sigma_LD, sigma_SD, s_LD and s_SD describing the noise on the network grid.

    Args:
        case: ``preprocess_case``'s output on PC's grid.
        pre_contrast: PC (its grid).
        spacing_mm: the plan's isotropic spacing (mm).
        estimator: the noise estimator the case was preprocessed with.

    Returns:
        A new case (the input is not changed): ``noise_sigma_ld`` and ``noise_sigma_sd`` times f, the
        ``s_ld`` / ``s_sd`` arrays times f (float32); every other array and property as given.
    """
    factor = network_grid_noise_factor(case.arrays, pre_contrast, spacing_mm, estimator)
    if factor == 1.0:
        return case
    properties = case.properties
    scaled_properties = dataclasses.replace(
        properties,
        noise_sigma_ld=properties.noise_sigma_ld * factor,
        noise_sigma_sd=None if properties.noise_sigma_sd is None else properties.noise_sigma_sd * factor,
    )
    arrays = dict(case.arrays)
    for name in SCALED_ARRAYS:
        if name in arrays:
            arrays[name] = (arrays[name] * np.float32(factor)).astype(np.float32)
    logger.info(
        "noise on the %g mm network grid: factor %.3f, sigma_LD %.4f -> %.4f",
        spacing_mm,
        factor,
        properties.noise_sigma_ld,
        scaled_properties.noise_sigma_ld,
    )
    return PreprocessedCase(arrays=arrays, properties=scaled_properties, registrations=case.registrations)
