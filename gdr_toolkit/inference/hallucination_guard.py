"""Hallucination guard: predicted enhancement that the low-dose subtraction does not support.

All volumes are float ``(z, y, x)`` arrays on one grid (PC's grid at inference), in the units of the
noise-normalised low-dose subtraction z_LD of eq. 1 (method.md section 1, step 9), whose noise std is
sigma_LD everywhere in the brain. Definitions (documentation/inference.md, "Hallucination guard"):

    q      = sigma_LD * y~ / s_LD          the predicted SD contrast signal y~ in z_LD's units (eq. 1
                                           applied with LD's local noise std s_LD)
    P      = q > t sigma_LD                predicted enhancement (t = ``signal_sigmas``, 4: where eq. 2's
                                           CE mask reaches 0.99)
    O      = G * z_LD / G * 1              the smoothed LD subtraction (G: Gaussian, ``smoothing_mm``;
                                           normalised convolution, zeros beyond the volume)
    E      = rho G * q / G * 1                    the LD subtraction the prediction implies (rho: dose response)
    sigma_O                                noise std of O: sigma_LD sqrt(G^2 * 1) / (G * 1) [white noise;
                                           sqrt(sum G^2) away from the border] times the inflation
                                           max(1, robust std of O / that, far from predicted enhancement)
                                           [correlated noise, e.g. from resampling LD onto PC's grid]
    A      = E >= (k + z) sigma_O          assessable: a real enhancement of the predicted size would
                                           give O >= k sigma_O with probability >= Phi(z) (z = 2.326: 99 %)
    U      = P & A & (O < k sigma_O)       unsupported: the LD subtraction shows no significant
                                           enhancement (k = ``support_sigmas``, 3) where it should

Dose response rho: the LD subtraction carries rho times the SD contrast signal. For the relaxivity-linear
model 1/T1 = 1/T1_0 + r C with C proportional to dose, the spoiled gradient echo signal is increasing and
concave in 1/T1, hence in C, so S(dC) - S(0) >= d (S(C) - S(0)): rho = d (the dose fraction) is a lower
bound of the true ratio. A too small rho only shrinks A (fewer voxels judged), never adds flags, so the
choice is conservative. Without a known dose, :func:`estimate_dose_response` measures rho on the case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

GAUSSIAN_TRUNCATE = 3.0
MAD_TO_STD = 1.4826
MIN_NOISE_VOXELS = 1000  # fewer voxels far from predicted enhancement: the white-noise sigma_O alone
FAR_FROM_PREDICTION = 0.01  # G * P below this counts as far from predicted enhancement


@dataclass(frozen=True)
class GuardOptions:
    """Parameters of the guard (module docstring).

    Attributes:
        smoothing_mm: std of the Gaussian G in mm (2: matched to small metastases of 3-6 mm; the noise
            of a 1 mm grid drops about 19x).
        support_sigmas: k, LD enhancement counts as present above k sigma_O (3).
        power_sigmas: z, assess only where a real enhancement would be seen with probability Phi(z) (2.326).
        signal_sigmas: t, predicted enhancement is q > t sigma_LD (4).
        dose_response_range: (min, max) of an estimated rho.
    """

    smoothing_mm: float = 2.0
    support_sigmas: float = 3.0
    power_sigmas: float = 2.326
    signal_sigmas: float = 4.0
    dose_response_range: tuple[float, float] = (0.05, 1.0)

    def __post_init__(self) -> None:
        for name in ("smoothing_mm", "support_sigmas", "power_sigmas", "signal_sigmas"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"GuardOptions.{name} must be a finite number >= 0, got {value}.")
        low, high = self.dose_response_range
        if not 0 < low <= high <= 1:
            raise ValueError(f"dose_response_range must satisfy 0 < min <= max <= 1, got {(low, high)}.")


@dataclass(frozen=True, eq=False)
class GuardResult:
    """Output of :func:`unsupported_enhancement`; masks are bool ``(z, y, x)``, fields float32 in z_LD units.

    Attributes:
        unsupported: U.   predicted: P.   assessable: A.
        observed: O, the smoothed LD subtraction.   expected: E, the dose-scaled smoothed prediction.
        noise: sigma_O per voxel (larger near the volume's border, where fewer voxels are averaged).
        white_noise_sigma: sigma_LD sqrt(sum G^2), sigma_O of white noise away from the border.
        noise_inflation: measured std of O / white-noise std of O far from predicted enhancement,
            at least 1 (correlated noise raises it; 1 when too few voxels are far from prediction).
        dose_response: rho used.
    """

    unsupported: np.ndarray
    predicted: np.ndarray
    assessable: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    noise: np.ndarray
    white_noise_sigma: float
    noise_inflation: float
    dose_response: float


def gaussian_kernels(smoothing_mm: float, spacing_zyx_mm: tuple[float, float, float]) -> list[np.ndarray]:
    """The normalised 1D Gaussian per array axis (std ``smoothing_mm / spacing`` voxels, cut at 3 std):
    an isotropic physical kernel on any grid; ``[1.0]`` for a zero std."""
    kernels = []
    for spacing in spacing_zyx_mm:
        sigma = smoothing_mm / spacing
        radius = int(GAUSSIAN_TRUNCATE * sigma + 0.5)
        if radius == 0:
            kernels.append(np.ones(1))
            continue
        offsets = np.arange(-radius, radius + 1, dtype=np.float64)
        kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
        kernels.append(kernel / kernel.sum())
    return kernels


def white_noise_factor(kernels: list[np.ndarray]) -> float:
    """sqrt(sum G^2): the std of G * (white noise of std 1) away from the volume's border."""
    return math.sqrt(math.prod(float(np.sum(kernel**2)) for kernel in kernels))


def smooth(volume: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    """Separable G * volume with zeros beyond the border (float64); divide by G * 1 to normalise."""
    result = np.asarray(volume, dtype=np.float64)
    for axis, kernel in enumerate(kernels):
        result = ndimage.correlate1d(result, kernel, axis=axis, mode="constant", cval=0.0)
    return result


def normalised_smoothing(volume: np.ndarray, kernels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(G * volume / G * 1, std of that for white noise of std 1): exact near the border too, where fewer
    voxels are averaged (sqrt(G^2 * 1) / G * 1 per voxel)."""
    ones = np.ones(np.shape(volume))
    weight = smooth(ones, kernels)
    squared = smooth(ones, [kernel**2 for kernel in kernels])
    return smooth(volume, kernels) / weight, np.sqrt(squared) / weight


def estimate_dose_response(
    observed: np.ndarray, smoothed_prediction: np.ndarray, region: np.ndarray, limits: tuple[float, float]
) -> float:
    """rho = median of O / (G * q) over ``region`` (strong predicted enhancement), clipped to ``limits``.

    Hallucinated voxels pull the median down, which shrinks the assessable region (no added flags); a case
    whose enhancement is mostly hallucinated cannot be judged this way. Empty region: the upper limit.
    """
    if not region.any():
        return float(limits[1])
    ratio = observed[region] / smoothed_prediction[region]
    return float(np.clip(np.median(ratio), *limits))


def noise_inflation(standardised: np.ndarray, far: np.ndarray) -> float:
    """max(1, robust std (1.4826 MAD about the median) of O / white-noise sigma_O on ``far`` voxels);
    1 with fewer than ``MIN_NOISE_VOXELS`` such voxels."""
    values = standardised[far]
    if values.size < MIN_NOISE_VOXELS:
        return 1.0
    return max(1.0, float(MAD_TO_STD * np.median(np.abs(values - np.median(values)))))


def _check_inputs(arrays: dict[str, np.ndarray], noise_sigma_ld: float) -> None:
    shapes = {name: np.shape(array) for name, array in arrays.items()}
    reference = shapes["predicted_contrast"]
    if len(reference) != 3 or any(shape != reference for shape in shapes.values()):
        raise ValueError(f"the guard needs 3D arrays of one shape, got shapes {shapes}.")
    if not (math.isfinite(noise_sigma_ld) and noise_sigma_ld > 0):
        raise ValueError(f"noise_sigma_ld must be a finite number > 0, got {noise_sigma_ld}.")
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} holds NaN or inf values; the guard needs finite arrays.")


def unsupported_enhancement(
    predicted_contrast: np.ndarray,
    ld_subtraction: np.ndarray,
    local_std_ld: np.ndarray,
    noise_sigma_ld: float,
    spacing_zyx_mm: tuple[float, float, float],
    dose_response: float | None,
    brain_mask: np.ndarray | None = None,
    options: GuardOptions = GuardOptions(),
) -> GuardResult:
    """Flag predicted enhancement without support in the LD subtraction (module docstring).

    Args:
        predicted_contrast: y~, float ``(z, y, x)``, the predicted SD contrast signal in the units of the
            raw subtraction z~ (PC's normalised intensity units); negative values count as 0.
        ld_subtraction: z_LD after eq. 1, float ``(z, y, x)``, noise std sigma_LD.
        local_std_ld: s_LD, float ``(z, y, x)``, > 0, the local noise std of z~_LD.
        noise_sigma_ld: sigma_LD (PC's normalised units).
        spacing_zyx_mm: voxel spacing per array axis in mm.
        dose_response: rho (the dose fraction d_LD), or None to estimate it from the case.
        brain_mask: bool/0-1 ``(z, y, x)``: predicted enhancement outside is not judged; None: everywhere.
        options: :class:`GuardOptions`.
    """
    arrays = {"predicted_contrast": predicted_contrast, "ld_subtraction": ld_subtraction}
    arrays["local_std_ld"] = local_std_ld
    if brain_mask is not None:
        arrays["brain_mask"] = brain_mask
    _check_inputs(arrays, noise_sigma_ld)
    with np.errstate(all="raise", under="ignore"):
        kernels = gaussian_kernels(options.smoothing_mm, spacing_zyx_mm)
        signal = noise_sigma_ld * np.maximum(predicted_contrast, 0.0) / np.maximum(local_std_ld, 1e-12)
        predicted = signal > options.signal_sigmas * noise_sigma_ld
        if brain_mask is not None:
            predicted &= np.asarray(brain_mask).astype(bool)
        observed, white = normalised_smoothing(ld_subtraction, kernels)
        white *= noise_sigma_ld
        far = normalised_smoothing(predicted, kernels)[0] < FAR_FROM_PREDICTION
        inflation = noise_inflation(observed / white, far)
        noise = inflation * white
        smoothed_signal = normalised_smoothing(signal, kernels)[0]
        limit = options.support_sigmas + options.power_sigmas
        if dose_response is None:
            strong = predicted & (smoothed_signal >= limit * noise)
            dose_response = estimate_dose_response(
                observed, smoothed_signal, strong, options.dose_response_range
            )
        if not (math.isfinite(dose_response) and dose_response > 0):
            raise ValueError(f"dose_response must be a finite number > 0, got {dose_response}.")
        expected = dose_response * smoothed_signal
        assessable = predicted & (expected >= limit * noise)
        unsupported = assessable & (observed < options.support_sigmas * noise)
    return GuardResult(
        unsupported, predicted, assessable, observed.astype(np.float32), expected.astype(np.float32),
        noise.astype(np.float32), noise_sigma_ld * white_noise_factor(kernels), inflation, float(dose_response),
    )  # fmt: skip


def guard_summary(
    result: GuardResult, predicted_contrast: np.ndarray, voxel_volume_ml: float, max_regions: int = 5
) -> dict[str, object]:
    """Per-case numbers: volumes in ml, fractions of the predicted enhancement, the largest flagged regions.

    Args:
        result: from :func:`unsupported_enhancement`.
        predicted_contrast: the y~ it was given (for the signal-weighted fraction).
        voxel_volume_ml: volume of one voxel in ml (mm^3 / 1000).
        max_regions: how many flagged regions (26-connected, largest first) to list.

    Returns:
        ``predicted_ml``, ``assessable_ml``, ``unsupported_ml``, ``unsupported_fraction`` (of the
        predicted volume, 0 when nothing is predicted), ``unsupported_signal_fraction`` (of the summed
        predicted signal), ``regions`` (``[{"volume_ml", "centre_voxel_zyx"}]``), ``dose_response``,
        ``smoothed_noise_sigma``.
    """
    predicted_voxels = int(result.predicted.sum())
    unsupported_voxels = int(result.unsupported.sum())
    signal = np.maximum(np.asarray(predicted_contrast, dtype=np.float64), 0.0)
    predicted_signal = float(signal[result.predicted].sum())
    labels, count = ndimage.label(result.unsupported, structure=np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel())[1:] if count else np.zeros(0, dtype=np.int64)
    order = np.argsort(-sizes, kind="stable")[:max_regions]
    centres = ndimage.center_of_mass(result.unsupported, labels, [int(index) + 1 for index in order])
    regions = [
        {
            "volume_ml": float(sizes[index] * voxel_volume_ml),
            "centre_voxel_zyx": [int(round(c)) for c in centre],
        }
        for index, centre in zip(order, centres, strict=True)
    ]
    return {
        "predicted_ml": predicted_voxels * voxel_volume_ml,
        "assessable_ml": int(result.assessable.sum()) * voxel_volume_ml,
        "unsupported_ml": unsupported_voxels * voxel_volume_ml,
        "unsupported_fraction": unsupported_voxels / predicted_voxels if predicted_voxels else 0.0,
        "unsupported_signal_fraction": (
            float(signal[result.unsupported].sum()) / predicted_signal if predicted_signal > 0 else 0.0
        ),
        "unsupported_regions": int(count),
        "regions": regions,
        "dose_response": result.dose_response,
        "smoothed_noise_sigma": result.white_noise_sigma * result.noise_inflation,
        "noise_inflation": result.noise_inflation,
    }
