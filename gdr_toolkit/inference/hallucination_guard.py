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
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from gdr_toolkit.inference.guard_noise import (
    NoiseModel,
    background_mean,
    estimate_noise_model,
    misregistration_nuisance,
    robust_std,
)
from gdr_toolkit.inference.guard_options import GuardOptions
from gdr_toolkit.inference.guard_regions import (
    NOT_JUDGED,
    STATE_NAMES,
    SUPPORTED,
    UNSUPPORTED,
    RegionContext,
    RegionTest,
    dose_response_estimate,
    judge_regions,
    measure_region,
    unjudged_regions,
)

__all__ = [  # the guard's public names, wherever they are defined
    "NOT_JUDGED", "STATE_NAMES", "SUPPORTED", "UNSUPPORTED", "GuardOptions", "GuardResult", "GuardStatus",
    "RegionTest", "noise_voxels_of", "unsupported_enhancement",
]  # fmt: skip

CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)
DEFAULT_GUARD_OPTIONS = GuardOptions()  # frozen: one shared default
GuardStatus = Literal["assessed", "nothing_assessable", "nothing_predicted", "not_assessable"]


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


def unsupported_enhancement(
    predicted_contrast: np.ndarray,
    ld_subtraction: np.ndarray,
    spacing_zyx_mm: tuple[float, float, float],
    dose_response: float | None,
    brain_mask: np.ndarray | None = None,
    data_mask: np.ndarray | None = None,
    options: GuardOptions = DEFAULT_GUARD_OPTIONS,
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
            regions = unjudged_regions(labels, count)
            return GuardResult(empty, labels.astype(np.int32), regions, model, status, known,
                               options.dose_response_margin * known, None, model.reason)  # fmt: skip
        residual = subtraction - background_mean(
            subtraction, noise_voxels, model.sigma, spacing_zyx_mm, options.noise
        )
        case = RegionContext(labels, signal, residual, data, noise_voxels, model, spacing_zyx_mm, options)
        boxes = ndimage.find_objects(labels)
        measured = [measure_region(index + 1, box, case) for index, box in enumerate(boxes)]
    estimate = dose_response_estimate(measured, options)
    base = known if dose_response is not None else (estimate or options.dose_response_range[0])
    lower_bound = options.dose_response_margin * base
    tests = judge_regions(measured, lower_bound, options)
    states = np.zeros(count + 1, dtype=np.uint8)
    states[1:] = [test.state for test in tests]
    status = "assessed" if any(test.state != NOT_JUDGED for test in tests) else "nothing_assessable"
    return GuardResult(
        states[labels], labels.astype(np.int32), tests, model, status, base, lower_bound, estimate
    )
