"""The guard's test of each predicted region: measure it, estimate the case's dose response, judge it.

Per region r (symbols: ``hallucination_guard``'s module docstring): :func:`measure_region` gives the
matched-filter observation O_r against its local null, E_r, sqrt(V_r) and the displaced E'_r;
:func:`dose_response_estimate` the case's k^ from the regions with enough signal; :func:`judge_regions`
the power S_r, statistic T_r, p-value p_r and the state, with Benjamini-Hochberg over the judged regions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage, special

from gdr_toolkit.inference.guard_noise import NoiseModel, local_null, quadratic_form
from gdr_toolkit.inference.guard_options import GuardOptions
from gdr_toolkit.inference.guard_statistics import benjamini_hochberg, displaced_overlap

NOT_JUDGED, SUPPORTED, UNSUPPORTED = 0, 1, 2
STATE_NAMES = {NOT_JUDGED: "not judged", SUPPORTED: "supported", UNSUPPORTED: "unsupported"}


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
class RegionContext:
    """What every region's measurement reads: the case's float64/bool ``(z, y, x)`` arrays (labels of the
    predicted regions, q, the background-free z~, the data D, the noise voxels N), its noise model, the
    voxel spacing and the guard's options."""

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


def measure_region(label: int, box: tuple[slice, ...], case: RegionContext) -> RegionTest:
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


def dose_response_estimate(tests: list[RegionTest], options: GuardOptions) -> float | None:
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


def judge_regions(tests: list[RegionTest], lower_bound: float, options: GuardOptions) -> list[RegionTest]:
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


def unjudged_regions(labels: np.ndarray, count: int) -> list[RegionTest]:
    """The regions, not measured (unreliable noise estimate)."""
    if count == 0:
        return []
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    centres = ndimage.center_of_mass(labels > 0, labels, list(range(1, count + 1)))
    return [
        RegionTest(label, int(size), tuple(int(round(v)) for v in centre), 0.0, 0.0, 0.0, 0.0)  # type: ignore[arg-type]
        for label, size, centre in zip(range(1, count + 1), sizes, centres, strict=True)
    ]
