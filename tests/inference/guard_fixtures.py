"""Hand-made preprocessed cases and predictions for the guard and report tests (no registration, fast)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import image_from_array
from gdr_toolkit.inference.predictor import CasePrediction
from gdr_toolkit.preprocessing.case_preprocessing import CaseProperties, PreprocessedCase

SIGMA = 0.03
DOSE = 0.25
SHAPE = (32, 32, 32)


def ball(centre: tuple[int, int, int], radius: float, amplitude: float) -> np.ndarray:
    """float64 ball of ``amplitude`` on a 1 mm (z, y, x) grid of ``SHAPE``."""
    grid = np.indices(SHAPE, dtype=np.float64)
    distance = np.sqrt(sum((axis - c) ** 2 for axis, c in zip(grid, centre, strict=True)))
    return np.where(distance <= radius, amplitude, 0.0)


def synthetic_case(
    real: np.ndarray, seed: int = 0, dose: float | None = DOSE, noise_normalised: bool = True
) -> PreprocessedCase:
    """A case whose LD subtraction carries ``dose * real`` plus white noise of std SIGMA (eq. 1 units);
    without noise normalisation z_ld holds z~ = that times s_LD / sigma_LD with s_LD = 2 sigma_LD."""
    rng = np.random.default_rng(seed)
    z_ld = (dose or 0.3) * real + rng.normal(0.0, SIGMA, SHAPE)
    s_ld = np.full(SHAPE, SIGMA if noise_normalised else 2 * SIGMA, dtype=np.float32)
    if not noise_normalised:
        z_ld = z_ld * 2.0
    arrays = {
        "x_pc": np.full(SHAPE, 0.5, dtype=np.float32), "x_ld": (0.5 + z_ld).astype(np.float32),
        "z_ld": z_ld.astype(np.float32), "s_ld": s_ld, "brain_mask": np.ones(SHAPE, dtype=np.uint8),
    }  # fmt: skip
    properties = CaseProperties(
        geometry={"size": list(SHAPE), "spacing_mm": [1.0, 1.0, 1.0], "origin_mm": [0.0] * 3,
                  "direction": [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]},
        intensity_scales={"pre_contrast": 100.0, "low_dose": 100.0}, radiometric_scales={"low_dose": 1.0},
        noise_sigma_ld=SIGMA, noise_sigma_sd=None, gamma_statistic=None, noise_normalised=noise_normalised,
        brain_volume_ml=32.768, condition={} if dose is None else {"dose_fraction": dose, "field_strength_t": 3.0},
        transforms={}, step_seconds={},
    )  # fmt: skip
    return PreprocessedCase(arrays, properties, {})


def image(array: np.ndarray) -> sitk.Image:
    reference = sitk.Image(list(reversed(array.shape)), sitk.sitkFloat32)
    reference.SetSpacing((1.0, 1.0, 1.0))
    return image_from_array(array, reference)


def synthetic_prediction(case_id: str = "case_7", with_uncertainty: bool = True) -> CasePrediction:
    """A prediction with a real and a hallucinated ball; its guard map flags the second."""
    from gdr_toolkit.inference.case_guard import guard_case  # noqa: PLC0415

    real, fake = ball((10, 16, 16), 4.0, 10 * SIGMA), ball((22, 16, 16), 4.0, 10 * SIGMA)
    case = synthetic_case(real)
    guard = guard_case(case, real + fake, 1.0, case_id)
    pc = np.full(SHAPE, 50.0, dtype=np.float32)
    contrast = ((real + fake) * 100.0).astype(np.float32)
    return CasePrediction(
        case_id=case_id, sd=image(pc + contrast), sdplus=image(pc + contrast),
        contrast_signal=image(contrast), uncertainty=image(0.1 * contrast) if with_uncertainty else None,
        pre_contrast=image(pc), low_dose=image(case.arrays["x_ld"] * 100.0),
        seconds={"preprocessing": 1.0, "network": 2.0, "resampling": 0.5},
        unsupported=image_from_array(guard.states, image(pc)), summary=guard.summary,
    )  # fmt: skip
