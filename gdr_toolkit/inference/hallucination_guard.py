"""Hallucination guard: predicted enhancement regions that the low-dose subtraction does not support.

All volumes are float ``(z, y, x)`` arrays on one grid (PC's grid at inference) in PC's normalised
intensity units. The test runs on the raw LD subtraction z~ = x_LD - x_PC (before eq. 1, whose local mean
absorbs faint real signal), with the noise handling of :mod:`gdr_toolkit.inference.guard_noise`.
Definitions (documentation/inference.md, "Hallucination guard"):

    q          max(y~, 0), the predicted SD contrast signal (eq. 1 reverted; ``CASE_contrast`` / k)
    D          data: brain & LD's valid data & z~ != 0 (exact zeros: skull-stripped background, fill)
    N          noise voxels: D away from the predicted support (q > 1 sigma, grown by ``exclusion_mm``)
    z~         minus the misregistration nuisance fitted on N from x_PC (when x_PC is given)
    b          the background (slow offsets) of z~ over N
    regions    26-connected components r of brain & q > t sigma (t = ``signal_sigmas``, 4)
    w_r        q on r & D: the matched filter, the predicted signal shape of region r
    m_r, v_r   median and (1.4826 MAD)^2 of <w_r, z~ - b> over the placements of w_r on N near r
    V_r        max(v_r, sigma^2 <w_r, c w_r>) (1 + (pi/2) / n_eff): the variance of O_r (c: lag-1 model)
    O_r        <w_r, z~ - b> - m_r                what the LD subtraction shows along the template
    E'_r       min over 14 directions of <w_r, q displaced by ``misregistration_voxels``>
    rho_low    ``dose_response_margin`` x d (the dose fraction; the SPGR signal is concave in the agent's
               concentration, so LD carries >= d x the SD signal), or x the case's robust estimate k^
               (weighted median of O_r / <w_r, q>) when d is unknown
    S_r        rho_low E'_r / sqrt(V_r)           power: how many noise stds a hallucination lies below H0
    T_r        (O_r - rho_low E'_r) / sqrt(V_r)   H0 "LD shows at least rho_low x the displaced prediction"
    p_r        Phi(T_r)                           one-sided p-value (small: LD shows less than H0 allows)

A region is judged when its data coverage (signal share of w_r inside D) is >= ``min_data_coverage``, its
local null has >= ``min_null_placements`` placements and S_r >= ``min_power_sigmas``; judged regions are
tested together with Benjamini-Hochberg at FDR ``fdr`` (with only real regions in a case, the chance of
any flag is <= ``fdr``). States: 0 not judged (also every region when the noise estimate is unreliable),
1 supported, 2 unsupported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy import ndimage, special

from gdr_toolkit.inference.guard_noise import (
    NoiseModel,
    NoiseModelOptions,
    background_mean,
    estimate_noise_model,
    local_null,
    misregistration_nuisance,
    quadratic_form,
    robust_std,
)
from gdr_toolkit.inference.guard_statistics import benjamini_hochberg, displaced_overlap

NOT_JUDGED, SUPPORTED, UNSUPPORTED = 0, 1, 2
STATE_NAMES = {NOT_JUDGED: "not judged", SUPPORTED: "supported", UNSUPPORTED: "unsupported"}
CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)
GuardStatus = Literal["assessed", "nothing_assessable", "nothing_predicted", "not_assessable"]


@dataclass(frozen=True)
class GuardOptions:
    """Parameters of the guard (module docstring).

    Attributes:
        signal_sigmas: t, predicted enhancement is q > t sigma (4: where eq. 2's CE mask reaches 0.99).
        fdr: Benjamini-Hochberg false discovery rate over a case's judged regions (0.05).
        min_power_sigmas: judge a region only when S_r >= this (3: a hallucination lies 3 noise stds below
            H0, flagged alone with probability ~0.9 at p < 0.05).
        dose_response_margin: rho_low = margin x d (0.5: room for misregistration, partial volume and
            magnitude errors of a correct prediction).
        dose_response_range: (min, max) of the estimated dose response k^.
        min_data_coverage: share of a region's predicted signal inside the LD's data needed to judge it.
        exclusion_mm: predicted support (q > 1 sigma) dilated by this is left out of the noise voxels.
        min_null_placements: a region whose template fits fewer times on noise voxels in its
            neighbourhood is not judged (100).
        misregistration_voxels: registration tolerance between LD and PC in voxels (0.5): H0 allows the
            LD's signal to be displaced by this in any direction (``RegionTest.expected_displaced``).
        noise: :class:`~gdr_toolkit.inference.guard_noise.NoiseModelOptions`.
    """

    signal_sigmas: float = 4.0
    fdr: float = 0.05
    min_power_sigmas: float = 3.0
    dose_response_margin: float = 0.5
    dose_response_range: tuple[float, float] = (0.05, 1.0)
    min_data_coverage: float = 0.5
    exclusion_mm: float = 4.0
    min_null_placements: int = 100
    misregistration_voxels: float = 0.5
    noise: NoiseModelOptions = field(default_factory=NoiseModelOptions)

    def __post_init__(self) -> None:
        for name in ("signal_sigmas", "min_power_sigmas", "exclusion_mm", "misregistration_voxels"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"GuardOptions.{name} must be a finite number >= 0, got {value}.")
        for name in ("fdr", "dose_response_margin", "min_data_coverage"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"GuardOptions.{name} must lie in (0, 1], got {value}.")
        low, high = self.dose_response_range
        if not 0 < low <= high <= 1:
            raise ValueError(f"dose_response_range must satisfy 0 < min <= max <= 1, got {(low, high)}.")


@dataclass(frozen=True)
class RegionTest:
    """The matched-filter test of one predicted region (module docstring; sums in z~ units squared).

    Attributes:
        label: the region's label in ``GuardResult.labels`` (1-based).
        voxels: its size in voxels.   centre_voxel_zyx: its centre of mass (rounded).
        data_coverage: share of its predicted signal inside the LD's data.
        observed: O_r.   expected: E_r.   noise_std: sqrt(V_r).
        expected_displaced: E'_r, the smallest <w_r, q shifted by ``misregistration_voxels``> over 14
            directions: what the LD shows at a dose response of 1 if it is misregistered.
        power_sigmas: S_r.   statistic: T_r.   p_value: p_r (1 when not judged).
        dose_response_estimate: O_r / E_r (the LD signal over the predicted one).
        state: 0 not judged, 1 supported, 2 unsupported.
    """

    label: int
    voxels: int
    centre_voxel_zyx: tuple[int, int, int]
    data_coverage: float
    observed: float
    expected: float
    noise_std: float
    expected_displaced: float = 0.0
    power_sigmas: float = 0.0
    statistic: float = 0.0
    p_value: float = 1.0
    dose_response_estimate: float = 0.0
    state: int = NOT_JUDGED


@dataclass(frozen=True, eq=False)
class GuardResult:
    """Output of :func:`unsupported_enhancement`.

    Attributes:
        states: uint8 ``(z, y, x)``, per predicted region its state (0 elsewhere).
        labels: int32 ``(z, y, x)``, the predicted regions (0 = none).
        regions: one :class:`RegionTest` per label, in label order.
        noise: the noise model of z~_LD.
        status: ``assessed`` (>= 1 region judged), ``nothing_assessable`` (regions, none judged),
            ``nothing_predicted``, ``not_assessable`` (unreliable noise estimate; ``reason`` says why).
        dose_response: the dose response the bound is built on (d, or the estimate k^).
        dose_response_lower_bound: rho_low.
        dose_response_estimate: k^ of the case (None without a region with enough signal).
        reason: why the case is not assessable, or None.
    """

    states: np.ndarray
    labels: np.ndarray
    regions: list[RegionTest]
    noise: NoiseModel
    status: GuardStatus
    dose_response: float
    dose_response_lower_bound: float
    dose_response_estimate: float | None
    reason: str | None = None

    @property
    def predicted(self) -> np.ndarray:
        """bool ``(z, y, x)``: predicted enhancement (every region)."""
        return self.labels > 0

    @property
    def unsupported(self) -> np.ndarray:
        """bool ``(z, y, x)``: voxels of unsupported regions."""
        return self.states == UNSUPPORTED

    @property
    def assessable(self) -> np.ndarray:
        """bool ``(z, y, x)``: voxels of judged regions."""
        return self.states != NOT_JUDGED


def _check_inputs(arrays: dict[str, np.ndarray]) -> None:
    shapes = {name: np.shape(array) for name, array in arrays.items()}
    reference = shapes["predicted_contrast"]
    if len(reference) != 3 or any(shape != reference for shape in shapes.values()):
        raise ValueError(f"the guard needs 3D arrays of one shape, got shapes {shapes}.")
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} holds NaN or inf values; the guard needs finite arrays.")


def noise_voxels_of(
    signal: np.ndarray,
    subtraction: np.ndarray,
    data: np.ndarray,
    spacing_zyx_mm: tuple[float, ...],
    margin_mm: float,
) -> np.ndarray:
    """Data voxels outside the predicted support q > 1 robust std of z~ (on the data), grown by a box of
    half-width ``margin_mm`` (separable maximum filter: fast on large volumes)."""
    scale = robust_std(subtraction[data])
    support = (signal > scale if scale > 0 else signal > 0).astype(np.uint8)
    if support.any():
        for axis, spacing in enumerate(spacing_zyx_mm):
            radius = int(math.ceil(margin_mm / spacing))
            if radius > 0:
                support = ndimage.maximum_filter1d(support, 2 * radius + 1, axis=axis, mode="constant")
    return data & (support == 0)


@dataclass(frozen=True, eq=False)
class _CaseArrays:
    """What every region's measurement reads (float64/bool ``(z, y, x)`` arrays of the case)."""

    labels: np.ndarray
    signal: np.ndarray
    residual: np.ndarray
    data: np.ndarray
    noise_voxels: np.ndarray
    model: NoiseModel
    spacing_zyx_mm: tuple[float, float, float]
    options: GuardOptions


def _grown(box: tuple[slice, ...], margins: list[int], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(
        slice(max(0, s.start - m), min(n, s.stop + m)) for s, m, n in zip(box, margins, shape, strict=True)
    )


def _measure_region(label: int, box: tuple[slice, ...], case: _CaseArrays) -> RegionTest:
    """O_r (centred on the local null), E_r and sqrt(V_r) of one region (module docstring)."""
    inside = case.labels[box] == label
    predicted = np.where(inside, case.signal[box], 0.0)
    template = np.where(case.data[box], predicted, 0.0)
    total = float(predicted.sum())
    coverage = float(template.sum()) / total if total > 0 else 0.0
    points = np.argwhere(inside).mean(axis=0) + np.array([s.start for s in box])
    centre = tuple(int(round(value)) for value in points)
    test = RegionTest(label, int(inside.sum()), centre, coverage, 0.0, 0.0, 0.0)  # type: ignore[arg-type]
    expected = float(np.sum(template * template))
    if expected <= 0:
        return test
    kernels = case.model.correlation_kernels()
    padded = np.pad(template, [(kernel.size // 2,) * 2 for kernel in kernels])
    modelled = case.model.sigma**2 * quadratic_form(padded, kernels)
    reach_mm = [
        max(case.options.noise.neighbourhood_mm, 3.0 * (s.stop - s.start) * d)
        for s, d in zip(box, case.spacing_zyx_mm, strict=True)
    ]
    near = _grown(
        box,
        [int(math.ceil(r / d)) for r, d in zip(reach_mm, case.spacing_zyx_mm, strict=True)],
        case.labels.shape,
    )
    offset, local, placements = local_null(template, case.residual[near], case.noise_voxels[near])
    if placements < case.options.min_null_placements:
        return test
    independent = placements / max(1.0, float((template > 0).sum()) * case.model.inflation**2)
    variance = max(local, modelled) * (1.0 + 0.5 * math.pi / max(independent, 1.0))
    observed = float(np.sum(template * case.residual[box])) - offset
    displaced = displaced_overlap(template, predicted, case.options.misregistration_voxels)
    return replace(
        test,
        observed=observed,
        expected=expected,
        noise_std=math.sqrt(variance),
        expected_displaced=displaced,
    )


def _dose_response_estimate(tests: list[RegionTest], options: GuardOptions) -> float | None:
    """k^: weighted median of O_r / E_r (weights E_r^2 / V_r) over regions with S_r >= the power limit at a
    dose response of 1; clipped to ``dose_response_range``; None without such a region."""
    usable = [
        test for test in tests
        if test.noise_std > 0 and test.data_coverage >= options.min_data_coverage
        and test.expected / test.noise_std >= options.min_power_sigmas
    ]  # fmt: skip
    if not usable:
        return None
    ratios = np.array([test.observed / test.expected for test in usable])
    weights = np.array([(test.expected / test.noise_std) ** 2 for test in usable])
    order = np.argsort(ratios)
    cumulative = np.cumsum(weights[order])
    median = float(ratios[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])
    return float(np.clip(median, *options.dose_response_range))


def _judge(tests: list[RegionTest], lower_bound: float, options: GuardOptions) -> list[RegionTest]:
    """Power, statistic, p-value and state per region; BH over the judged ones."""
    judged: list[RegionTest] = []
    for test in tests:
        if test.noise_std <= 0 or test.data_coverage < options.min_data_coverage:
            judged.append(test)
            continue
        power = lower_bound * test.expected_displaced / test.noise_std
        statistic = (test.observed - lower_bound * test.expected_displaced) / test.noise_std
        p_value = 0.5 * float(special.erfc(-statistic / math.sqrt(2.0)))
        state = SUPPORTED if power >= options.min_power_sigmas else NOT_JUDGED
        ratio = test.observed / test.expected
        judged.append(RegionTest(**{**test.__dict__, "power_sigmas": power, "statistic": statistic,
                                   "p_value": p_value if state else 1.0, "dose_response_estimate": ratio,
                                   "state": state}))  # fmt: skip
    candidates = [index for index, test in enumerate(judged) if test.state == SUPPORTED]
    rejected = benjamini_hochberg(np.array([judged[index].p_value for index in candidates]), options.fdr)
    for index, flag in zip(candidates, rejected, strict=True):
        if flag:
            judged[index] = replace(judged[index], state=UNSUPPORTED)
    return judged


def unsupported_enhancement(
    predicted_contrast: np.ndarray,
    ld_subtraction: np.ndarray,
    spacing_zyx_mm: tuple[float, float, float],
    dose_response: float | None,
    brain_mask: np.ndarray | None = None,
    data_mask: np.ndarray | None = None,
    options: GuardOptions = GuardOptions(),
    pre_contrast: np.ndarray | None = None,
) -> GuardResult:
    """Judge every predicted enhancement region against the raw LD subtraction (module docstring).

    Args:
        predicted_contrast: y~, float ``(z, y, x)``, the predicted SD contrast signal in z~'s units;
            negative values count as 0.
        ld_subtraction: z~_LD = x_LD - x_PC, float ``(z, y, x)`` (raw: before eq. 1).
        spacing_zyx_mm: voxel spacing per array axis in mm.
        dose_response: d, the LD dose fraction, or None to estimate the dose response from the case.
        brain_mask: bool/0-1 ``(z, y, x)``: only predicted enhancement inside forms regions; None: all.
        data_mask: bool/0-1 ``(z, y, x)``: where the LD has data (valid after registration); None: all.
        options: :class:`GuardOptions`.
        pre_contrast: x_PC, float ``(z, y, x)``: when given, the residual misregistration and resampling
            blur it explains are removed from z~ first (:func:`~.guard_noise.misregistration_nuisance`).
    """
    arrays = {"predicted_contrast": predicted_contrast, "ld_subtraction": ld_subtraction}
    if pre_contrast is not None:
        arrays["pre_contrast"] = pre_contrast
    arrays.update(
        {
            name: mask
            for name, mask in (("brain_mask", brain_mask), ("data_mask", data_mask))
            if mask is not None
        }
    )
    _check_inputs(arrays)
    if dose_response is not None and not (math.isfinite(dose_response) and 0 < dose_response <= 1):
        raise ValueError(f"dose_response must be a finite number in (0, 1], got {dose_response}.")
    shape = np.shape(predicted_contrast)
    brain = np.ones(shape, dtype=bool) if brain_mask is None else np.asarray(brain_mask).astype(bool)
    subtraction = np.asarray(ld_subtraction, dtype=np.float64)
    data = brain & (subtraction != 0)
    if data_mask is not None:
        data &= np.asarray(data_mask).astype(bool)
    signal = np.maximum(np.asarray(predicted_contrast, dtype=np.float64), 0.0)
    with np.errstate(all="raise", under="ignore"):
        noise_voxels = noise_voxels_of(signal, subtraction, data, spacing_zyx_mm, options.exclusion_mm)
        if pre_contrast is not None:
            nuisance = misregistration_nuisance(
                subtraction, pre_contrast, noise_voxels, robust_std(subtraction[noise_voxels])
            )
            subtraction = np.where(data, subtraction - nuisance, 0.0)
        model = estimate_noise_model(subtraction, noise_voxels, options.noise)
        threshold = options.signal_sigmas * (
            model.sigma if model.sigma > 0 else robust_std(subtraction[data])
        )
        labels, count = ndimage.label(brain & (signal > threshold), structure=CONNECTIVITY)
        empty = np.zeros(shape, dtype=np.uint8)
        known = float(dose_response) if dose_response is not None else math.nan
        if count == 0 or not model.reliable:
            status: GuardStatus = "nothing_predicted" if count == 0 else "not_assessable"
            regions = _unjudged(labels, count)
            return GuardResult(empty, labels.astype(np.int32), regions, model, status, known,
                               options.dose_response_margin * known, None, model.reason)  # fmt: skip
        residual = subtraction - background_mean(
            subtraction, noise_voxels, model.sigma, spacing_zyx_mm, options.noise
        )
        case = _CaseArrays(labels, signal, residual, data, noise_voxels, model, spacing_zyx_mm, options)
        boxes = ndimage.find_objects(labels)
        measured = [_measure_region(index + 1, box, case) for index, box in enumerate(boxes)]
    estimate = _dose_response_estimate(measured, options)
    base = known if dose_response is not None else (estimate or options.dose_response_range[0])
    lower_bound = options.dose_response_margin * base
    tests = _judge(measured, lower_bound, options)
    states = np.zeros(count + 1, dtype=np.uint8)
    states[1:] = [test.state for test in tests]
    status = "assessed" if any(test.state != NOT_JUDGED for test in tests) else "nothing_assessable"
    return GuardResult(
        states[labels], labels.astype(np.int32), tests, model, status, base, lower_bound, estimate
    )


def _unjudged(labels: np.ndarray, count: int) -> list[RegionTest]:
    """The regions, not measured (unreliable noise estimate)."""
    if count == 0:
        return []
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    centres = ndimage.center_of_mass(labels > 0, labels, list(range(1, count + 1)))
    return [
        RegionTest(label, int(size), tuple(int(round(v)) for v in centre), 0.0, 0.0, 0.0, 0.0)  # type: ignore[arg-type]
        for label, size, centre in zip(range(1, count + 1), sizes, centres, strict=True)
    ]
