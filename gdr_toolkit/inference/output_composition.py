"""From the fold ensemble on PC's grid to the output arrays, by what the model predicts.

All arrays are float32 (z, y, x) on PC's grid in PC's normalised units (PC divided by scale_PC, its 95th
brain percentile); :func:`as_images` multiplies by scale_PC and attaches PC's geometry. k is the
enhancement factor.

``contrast_signal`` (the paper's method, documentation/method.md section 5), y~ the reverted ensemble:
    SD = x_PC + k y~,  SD+ = x_LD + k y~,  contrast = k y~,  uncertainty = k std_folds(y~).

``standard_dose`` (direct-regression baselines), s the ensemble mean of the x_SD predictions:
    a = robust radiometric scale with a s ~ x_PC inside the brain mask (the preprocessing's Tukey IRLS
        estimator, ``preprocessing/radiometric.py``; enhancing voxels are its outliers), as the paper
        registers every synthesised image radiometrically to PC; a = 1 with a warning when the fit is
        degenerate (e.g. a prediction that is not positive in the brain);
    contrast = k (a s - x_PC),  SD = x_PC + contrast (= a s for k = 1),  no SD+,
    uncertainty = k a std_folds(s).

Outside the valid-data mask (where LD has no data after co-registration, ``case.arrays["valid_mask"]``
== 0; absent: every voxel valid) no contrast can be predicted: contrast = 0 and uncertainty = 0 there,
so SD = x_PC, and SD+ falls back to SD (no hole, no zero-filled LD). The same holds outside the brain
of a skull-stripped PC (``properties.brain_mask_source == "support"``: its exact-zero background is no
tissue, issue 22), so no contrast appears over the stripped background. The radiometric scale a of a
standard-dose model is fitted on valid brain voxels only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import image_from_array
from gdr_toolkit.inference.case_quality import valid_mask_of
from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase
from gdr_toolkit.preprocessing.radiometric import estimate_radiometric_scale

logger = logging.getLogger(__name__)
Arrays = dict[str, np.ndarray | None]


def contrast_signal_arrays(
    case: PreprocessedCase, signal: np.ndarray, spread: np.ndarray | None, factor: float, case_id: str
) -> Arrays:
    """SD, SD+, contrast and uncertainty of a contrast-signal model (module docstring)."""
    valid = predictable_mask(case)
    contrast = _zero_outside(factor * signal, valid)
    sd = case.arrays["x_pc"] + contrast
    sdplus = case.arrays["x_ld"] + contrast
    return {
        "sd": sd,
        "sdplus": sdplus if valid is None else np.where(valid, sdplus, sd),
        "contrast_signal": contrast,
        "uncertainty": None if spread is None else _zero_outside(factor * spread, valid),
    }


def predictable_mask(case: PreprocessedCase) -> np.ndarray | None:
    """Where contrast may be predicted (bool (z, y, x)): the valid-data mask, and only the brain of a
    skull-stripped PC; None where every voxel is (no valid mask, not skull-stripped)."""
    valid = valid_mask_of(case)
    if getattr(case.properties, "brain_mask_source", "atlas") != "support":
        return valid
    brain = np.asarray(case.arrays["brain_mask"]) > 0
    return brain if valid is None else valid & brain


def _zero_outside(array: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """``array`` with 0 where ``valid`` (bool, same shape) is False; unchanged for None."""
    return array if valid is None else np.where(valid, array, 0.0).astype(array.dtype, copy=False)


def radiometric_scale_to_pre_contrast(
    prediction: np.ndarray, pre_contrast: np.ndarray, brain_mask: np.ndarray, case_id: str
) -> float:
    """a with a * prediction ~ x_PC in non-enhancing brain; 1.0 (and a warning) for a degenerate fit.

    Args:
        prediction: float (z, y, x), the predicted x_SD on PC's grid (normalised units).
        pre_contrast: float (z, y, x), x_PC.
        brain_mask: (z, y, x) 0/1, the case's brain mask.
        case_id: named in the warning.
    """
    try:
        return estimate_radiometric_scale(prediction, pre_contrast, brain_mask).scale
    except ValueError as error:
        logger.warning(
            "%s: radiometric registration of the prediction failed (%s); using a = 1", case_id, error
        )
        return 1.0


def standard_dose_arrays(
    case: PreprocessedCase, prediction: np.ndarray, spread: np.ndarray | None, factor: float, case_id: str
) -> Arrays:
    """SD (radiometrically registered to PC), contrast SD - PC and uncertainty; no SD+ (module docstring)."""
    x_pc, valid = case.arrays["x_pc"], predictable_mask(case)
    brain = np.asarray(case.arrays["brain_mask"]) > 0
    fit_mask = brain if valid is None else brain & valid
    scale = radiometric_scale_to_pre_contrast(prediction, x_pc, fit_mask.astype(np.uint8), case_id)
    logger.info("%s: predicted standard dose registered to PC with a = %.4f", case_id, scale)
    contrast = _zero_outside(factor * (scale * prediction - x_pc), valid)
    return {
        "sd": x_pc + contrast,
        "sdplus": None,
        "contrast_signal": contrast,
        "uncertainty": None if spread is None else _zero_outside(factor * scale * spread, valid),
    }


COMPOSERS: dict[str, Callable[[PreprocessedCase, np.ndarray, np.ndarray | None, float, str], Arrays]] = {
    "contrast_signal": contrast_signal_arrays,
    "standard_dose": standard_dose_arrays,
}


def as_images(
    arrays: Arrays, case: PreprocessedCase, pre_contrast: sitk.Image
) -> dict[str, sitk.Image | None]:
    """Every array times scale_PC as a float32 image with PC's geometry (None stays None), plus
    ``pre_contrast`` (PC itself) and ``low_dose`` (x_LD on PC's grid in PC's units) for the QC picture, and
    ``valid_mask`` (uint8 0/1, 1 where LD has data; None without a valid mask)."""
    scale = case.properties.intensity_scales["pre_contrast"]
    everything = {**arrays, "low_dose": case.arrays["x_ld"]}
    images: dict[str, sitk.Image | None] = {}
    with np.errstate(all="raise", under="ignore"):
        for name, array in everything.items():
            images[name] = (
                None if array is None else image_from_array((array * scale).astype(np.float32), pre_contrast)
            )
    valid = valid_mask_of(case)
    images["valid_mask"] = None if valid is None else image_from_array(valid.astype(np.uint8), pre_contrast)
    images["pre_contrast"] = image_from_array(
        sitk.GetArrayFromImage(pre_contrast).astype(np.float32), pre_contrast
    )
    return images
