"""Noise model of the raw low-dose subtraction for the hallucination guard.

The guard tests on z~_LD = x_LD - x_PC (documentation/method.md section 1, step 6), *before* eq. 1: eq. 1's
local mean (8 mm, clipped at 2 sigma) absorbs a faint real LD signal, which then looks unsupported at a
lesion's rim.
What the test needs from the noise of z~_LD, measured on the noise voxels N (inside brain and LD's valid
data, exact zeros excluded, away from predicted enhancement):

    sigma        1.4826 MAD of z~_LD about its median on N (robust to unpredicted enhancement)
    rho_a        lag-1 autocorrelation along array axis a: 1 - var(z~_i+1 - z~_i) / (2 sigma^2), the
                 variance of the differences again robust (1.4826 MAD), on pairs with both voxels in N
    c_a(k)       exp(-k^2 / (4 tau_a^2)), tau_a^2 = -1 / (4 ln rho_a): the correlation of noise that is
                 white noise smoothed by a Gaussian of std tau_a; c_a(1) = rho_a. C = sigma^2 prod_a c_a
                 (separable) is the noise covariance used for <w, C w>.
    inflation    sqrt(prod_a sum_k c_a(k)): the std of the mean of a large region relative to white
                 noise (1 for white noise; ~6.7 for tau = 1 voxel per axis). Resampling LD onto PC's grid
                 and the scanner's reconstruction filter raise it.
    background   b = G * (u z~) / G * u, the normalised Gaussian mean (``background_mm``) over the noise
                 voxels u = N & |z~ - median| <= 3 sigma: slow offsets of the subtraction (bias-field or
                 radiometric mismatch) that the test removes. Predicted enhancement and a margin around
                 it are excluded from u, so real LD signal there is not absorbed (unlike eq. 1's m).

Two further pieces: :func:`misregistration_nuisance` removes from z~ what a residual LD/PC
misregistration and LD's resampling blur explain (a regression on x_PC's gradients and Laplacian), and
:func:`local_null` measures, per region, the matched filter's response to the noise around it (no model
of the correlation needed; the lag-1 model above is its floor).

The estimate is unreliable (the case is then reported as not assessable) with fewer than
``min_noise_voxels`` noise voxels, a lag-1 correlation above ``max_lag1_correlation`` on any axis, or an
inflation outside ``inflation_range``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from gdr_toolkit.preprocessing.normalised_filtering import downsample_factors, local_weighted_moments

MAD_TO_STD = 1.4826
CORRELATION_TRUNCATE = 4.0  # c_a(k) is cut at 4 sqrt(2) tau_a voxels (below exp(-8))
WHITE_LAG1 = 0.02  # rho_a below this counts as white noise along the axis
MAX_SAMPLES = 500_000  # robust statistics on at most about this many values
NUISANCE_CLIP_SIGMAS = 4.0  # the nuisance fit clips z~ here (unpredicted enhancement, artefacts)
BACKGROUND_WORKING_STD = 2.5  # the background is filtered on a grid where its std is >= this many voxels


@dataclass(frozen=True)
class NoiseModelOptions:
    """Settings of :func:`estimate_noise_model` (module docstring).

    Attributes:
        min_noise_voxels: fewer noise voxels make the estimate unreliable (2000).
        max_lag1_correlation: a larger lag-1 correlation on any axis makes it unreliable (0.9).
        inflation_range: (min, max) sane inflation (0.8, 12).
        background_mm: std of the Gaussian of the background mean in mm (10).
        clip_sigmas: noise voxels further than this from the median do not enter the background (3).
        neighbourhood_mm: the local null of a region is measured within this distance of its box (20);
            at least 3 times the region's extent.
    """

    min_noise_voxels: int = 2000
    max_lag1_correlation: float = 0.9
    inflation_range: tuple[float, float] = (0.8, 12.0)
    background_mm: float = 10.0
    clip_sigmas: float = 3.0
    neighbourhood_mm: float = 20.0

    def __post_init__(self) -> None:
        if self.min_noise_voxels < 10:
            raise ValueError(f"min_noise_voxels must be >= 10, got {self.min_noise_voxels}.")
        if not 0 < self.max_lag1_correlation < 1:
            raise ValueError(f"max_lag1_correlation must lie in (0, 1), got {self.max_lag1_correlation}.")
        low, high = self.inflation_range
        if not 0 < low < 1 < high:
            raise ValueError(f"inflation_range must satisfy 0 < min < 1 < max, got {(low, high)}.")
        for name in ("background_mm", "clip_sigmas", "neighbourhood_mm"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(
                    f"NoiseModelOptions.{name} must be a finite number > 0, got {getattr(self, name)}."
                )


@dataclass(frozen=True)
class NoiseModel:
    """The noise of z~_LD on the noise voxels (module docstring).

    Attributes:
        sigma: noise std of z~_LD (its units, PC's normalised intensity), 0 when unmeasurable.
        lag1_correlation: rho per array axis ``(z, y, x)``.
        inflation: std of a large region's mean over that of white noise (>= ~1, lag-1 model).
        noise_voxels: number of noise voxels.
        reliable: whether the estimate may be used.
        reason: why it may not (None when reliable).
    """

    sigma: float
    lag1_correlation: tuple[float, float, float]
    inflation: float
    noise_voxels: int
    reliable: bool
    reason: str | None = None

    def correlation_kernels(self) -> list[np.ndarray]:
        """c_a(k) per array axis (float64, centred, c_a(0) = 1); ``[1.0]`` along a white axis."""
        kernels = []
        for rho in self.lag1_correlation:
            if rho < WHITE_LAG1:
                kernels.append(np.ones(1))
                continue
            tau = math.sqrt(-1.0 / (4.0 * math.log(rho)))
            radius = max(1, int(math.ceil(CORRELATION_TRUNCATE * math.sqrt(2.0) * tau)))
            lags = np.arange(-radius, radius + 1, dtype=np.float64)
            kernels.append(np.exp(-(lags**2) / (4.0 * tau**2)))
        return kernels


def robust_std(values: np.ndarray) -> float:
    """1.4826 median absolute deviation about the median (float); 0 for an empty array. Above
    ``MAX_SAMPLES`` values an evenly strided subset is used (deterministic; the MAD's own error is then
    ~0.1 %)."""
    if values.size == 0:
        return 0.0
    values = values[:: max(1, values.size // MAX_SAMPLES)]
    return MAD_TO_STD * float(np.median(np.abs(values - np.median(values))))


def lag1_correlations(subtraction: np.ndarray, noise: np.ndarray, sigma: float) -> tuple[float, float, float]:
    """rho per array axis from the robust variance of neighbour differences on ``noise`` pairs."""
    correlations = []
    for axis in range(3):
        head = [slice(None)] * 3
        tail = [slice(None)] * 3
        head[axis], tail[axis] = slice(1, None), slice(None, -1)
        pairs = noise[tuple(head)] & noise[tuple(tail)]
        differences = subtraction[tuple(head)][pairs] - subtraction[tuple(tail)][pairs]
        rho = 1.0 - robust_std(differences) ** 2 / (2.0 * sigma**2) if sigma > 0 else 0.0
        correlations.append(float(np.clip(rho, -1.0, 1.0)))
    return correlations[0], correlations[1], correlations[2]


def noise_inflation(model_kernels: list[np.ndarray]) -> float:
    """sqrt(prod_a sum_k c_a(k)): std of a large region's mean relative to white noise."""
    return math.sqrt(math.prod(float(kernel.sum()) for kernel in model_kernels))


def estimate_noise_model(
    subtraction: np.ndarray, noise_voxels: np.ndarray, options: NoiseModelOptions = NoiseModelOptions()
) -> NoiseModel:
    """sigma, lag-1 correlations and inflation of z~_LD on ``noise_voxels`` (module docstring).

    Args:
        subtraction: z~_LD, float ``(z, y, x)``.
        noise_voxels: bool ``(z, y, x)``, the voxels N (brain, valid, non-zero, away from prediction).
        options: :class:`NoiseModelOptions`.

    Returns:
        :class:`NoiseModel`; ``reliable`` False with the reason where the estimate must not be used.
    """
    count = int(noise_voxels.sum())
    if count < options.min_noise_voxels:
        few = f"{count} noise voxels in brain and valid LD data (fewer than {options.min_noise_voxels})"
        return NoiseModel(0.0, (0.0, 0.0, 0.0), 1.0, count, False, few)
    sigma = robust_std(subtraction[noise_voxels])
    if not sigma > 0:
        return NoiseModel(0.0, (0.0, 0.0, 0.0), 1.0, count, False, "the LD subtraction has no noise")
    correlations = lag1_correlations(subtraction, noise_voxels, sigma)
    clipped = tuple(float(min(max(rho, 0.0), options.max_lag1_correlation)) for rho in correlations)
    model = NoiseModel(sigma, clipped, 1.0, count, True)  # type: ignore[arg-type]
    inflation = noise_inflation(model.correlation_kernels())
    reason: str | None = None
    if max(correlations) > options.max_lag1_correlation:
        reason = f"lag-1 noise correlation {max(correlations):.3f} above {options.max_lag1_correlation}"
    elif not options.inflation_range[0] <= inflation <= options.inflation_range[1]:
        reason = f"noise inflation {inflation:.2f} outside the sane range {options.inflation_range}"
    return NoiseModel(sigma, clipped, inflation, count, reason is None, reason)  # type: ignore[arg-type]


def background_mean(
    subtraction: np.ndarray,
    noise_voxels: np.ndarray,
    sigma: float,
    spacing_zyx_mm: tuple[float, float, float],
    options: NoiseModelOptions = NoiseModelOptions(),
) -> np.ndarray:
    """b = G * (u z~) / G * u over u = noise voxels within ``clip_sigmas`` sigma of the median (float64
    ``(z, y, x)``); the median of those voxels where G * u is below 1 % (no noise voxel nearby)."""
    values = subtraction[noise_voxels]
    centre = float(np.median(values)) if values.size else 0.0
    usable = noise_voxels & (np.abs(subtraction - centre) <= options.clip_sigmas * sigma)
    std_voxels = np.array([options.background_mm / spacing for spacing in spacing_zyx_mm])
    factors = downsample_factors(std_voxels, BACKGROUND_WORKING_STD)
    mean, _variance, valid = local_weighted_moments(subtraction, usable, std_voxels, factors, 0.01)
    return np.where(valid, mean, centre)


def background_effective_voxels(spacing_zyx_mm: tuple[float, float, float], background_mm: float) -> float:
    """N_G = (sum G)^2 / sum G^2 = prod_a 2 sqrt(pi) std_a: the white-noise variance of the background
    mean is sigma^2 / (density N_G), density = the local fraction of noise voxels."""
    return math.prod(2.0 * math.sqrt(math.pi) * background_mm / spacing for spacing in spacing_zyx_mm)


def quadratic_form(template: np.ndarray, kernels: list[np.ndarray]) -> float:
    """<w, c w> for the separable correlation c = prod_a c_a (noise of unit variance): sum w (c * w).

    Args:
        template: float ``(z, y, x)``, w (a region's crop with a margin of the kernels' radius of zeros).
        kernels: c_a per axis from :meth:`NoiseModel.correlation_kernels`.
    """
    correlated = np.asarray(template, dtype=np.float64)
    for axis, kernel in enumerate(kernels):
        if kernel.size > 1:
            correlated = ndimage.correlate1d(correlated, kernel, axis=axis, mode="constant", cval=0.0)
    return float(np.sum(template * correlated))


def local_null(
    template: np.ndarray, residual: np.ndarray, noise_voxels: np.ndarray, min_coverage: float = 0.95
) -> tuple[float, float, int]:
    """The matched filter's response to the noise around a region: the template slid over a neighbourhood.

    Every placement of ``template`` inside the neighbourhood whose weight lies for at least
    ``min_coverage`` on noise voxels gives one response <w, r> (r = the residual on the noise voxels,
    0 elsewhere). Their median is the local null offset, (1.4826 MAD)^2 their variance: this carries
    whatever the noise is locally (correlation, misregistration edges, non-stationarity) without a model.

    Args:
        template: float ``(a, b, c)``, w (>= 0), cropped to its region.
        residual: float ``(A, B, C)``, z~ - b on the neighbourhood (A >= a, ...).
        noise_voxels: bool ``(A, B, C)``.
        min_coverage: share of the template's weight that must lie on noise voxels.

    Returns:
        ``(median, variance, placements)``; (0, 0, 0) without a usable placement.
    """
    flipped = template[::-1, ::-1, ::-1]
    weight = float(template.sum())
    if weight <= 0 or any(small > large for small, large in zip(template.shape, residual.shape, strict=True)):
        return 0.0, 0.0, 0
    masked = np.where(noise_voxels, residual, 0.0)
    responses = signal.fftconvolve(masked, flipped, mode="valid")
    coverage = signal.fftconvolve(noise_voxels.astype(np.float64), flipped, mode="valid")
    values = responses[coverage >= min_coverage * weight]
    if values.size == 0:
        return 0.0, 0.0, 0
    return float(np.median(values)), robust_std(values) ** 2, int(values.size)


def misregistration_nuisance(
    subtraction: np.ndarray, pre_contrast: np.ndarray, noise_voxels: np.ndarray, sigma: float
) -> np.ndarray:
    """The part of z~_LD that residual misregistration and resampling blur explain, fitted on noise voxels.

    A small rigid or affine error delta(x) between LD and PC leaves -delta(x) . grad x_PC in the
    subtraction (edges light up), and LD's resampling onto PC's grid blurs it (c lap x_PC). z~ is
    regressed by least squares, over the noise voxels one voxel in from their border and with z~ clipped
    at +-4 sigma, on 13 columns: d x_PC / d a times (1, z, y, x) for each array axis a (a translation and
    a linear field: rotation, scaling) and the Laplacian of x_PC. The columns hold only x_PC, which carries
    no contrast, so a lesion's LD signal is not fitted away.

    Args:
        subtraction: z~_LD, float ``(z, y, x)``.
        pre_contrast: x_PC, float ``(z, y, x)``, same units.
        noise_voxels: bool ``(z, y, x)``.
        sigma: noise std of z~ (for the clipping).

    Returns:
        float64 ``(z, y, x)``, the fitted nuisance (0 where fewer than 1000 fit voxels exist).
    """
    pre_contrast = np.asarray(pre_contrast, dtype=np.float32)
    fit = ndimage.binary_erosion(noise_voxels)
    if fit.sum() < 1000:
        return np.zeros(pre_contrast.shape)
    gradients = np.gradient(pre_contrast)
    laplacian = ndimage.laplace(pre_contrast)
    points = np.flatnonzero(fit)[:: max(1, int(fit.sum()) // MAX_SAMPLES)]
    where = np.unravel_index(points, pre_contrast.shape)
    position = [(index - n / 2) / n for index, n in zip(where, pre_contrast.shape, strict=True)]
    columns = [gradient.ravel()[points] * factor for gradient in gradients for factor in (1.0, *position)]
    design = np.stack([*columns, laplacian.ravel()[points]], axis=1).astype(np.float64)
    target = np.clip(subtraction.ravel()[points], -NUISANCE_CLIP_SIGMAS * sigma, NUISANCE_CLIP_SIGMAS * sigma)
    scale = np.maximum(np.sqrt(np.mean(design**2, axis=0)), 1e-12)  # normal equations of unit columns
    design /= scale
    gram = design.T @ design + 1e-9 * len(points) * np.eye(design.shape[1])
    coefficients = np.linalg.solve(gram, design.T @ target) / scale
    grids = [
        ((np.arange(n, dtype=np.float32) - n / 2) / n).reshape([-1 if a == axis else 1 for a in range(3)])
        for axis, n in enumerate(pre_contrast.shape)
    ]
    nuisance = coefficients[-1] * laplacian.astype(np.float64)
    for axis, gradient in enumerate(gradients):
        first = 4 * axis
        field = coefficients[first] + sum(coefficients[first + 1 + a] * grids[a] for a in range(3))
        nuisance += gradient * field
    return nuisance
