"""The hallucination guard of one predicted case and the case's summary (``CASE_summary.json``).

Glue between the predictor and :mod:`gdr_toolkit.inference.hallucination_guard`: it takes the arrays of
the preprocessed case (PC's grid, normalised units), forms the raw LD subtraction z~_LD = x_LD - x_PC and
the LD's data mask, and returns the three-state ``CASE_unsupported`` map (0 not judged, 1 supported,
2 unsupported) and the numbers that go into the per-case summary.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gdr_toolkit.inference.hallucination_guard import (
    NOT_JUDGED,
    STATE_NAMES,
    UNSUPPORTED,
    GuardOptions,
    GuardResult,
    RegionTest,
    unsupported_enhancement,
)
from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase

logger = logging.getLogger(__name__)
SUMMARY_FORMAT_VERSION = 2
MAX_LISTED_REGIONS = 10
STATUS_TEXT = {
    "assessed": "{judged} of {regions} predicted regions judged, {flagged} unsupported",
    "nothing_assessable": "nothing assessable: {regions} predicted regions, all too small, too faint or "
    "outside the low dose's data for the low dose to confirm or refute",
    "nothing_predicted": "nothing assessable: no enhancement was predicted",
    "not_assessable": "not assessable: {reason}",
}


@dataclass(frozen=True, eq=False)
class CaseGuard:
    """The guard's outputs for one case.

    Attributes:
        states: uint8 ``(z, y, x)`` on PC's grid, per predicted region 0 not judged, 1 supported by the
            low dose, 2 unsupported (0 outside predicted enhancement).
        summary: JSON-ready per-case summary (keys: documentation/inference.md, "Per-case summary").
    """

    states: np.ndarray
    summary: dict[str, Any]


def raw_ld_subtraction(case: PreprocessedCase) -> tuple[np.ndarray, np.ndarray]:
    """z~_LD = x_LD - x_PC (float64, before eq. 1) and the LD's data mask: valid after co-registration and
    both scans non-zero (a skull-stripped scan's background is exactly 0)."""
    x_ld = case.arrays["x_ld"].astype(np.float64)
    x_pc = case.arrays["x_pc"].astype(np.float64)
    valid = case.arrays.get("valid_mask")
    data = (x_ld != 0) & (x_pc != 0)
    if valid is not None:
        data &= valid > 0
    return x_ld - x_pc, data


def _region_record(test: RegionTest, voxel_volume_ml: float) -> dict[str, Any]:
    return {
        "label": test.label, "volume_ml": test.voxels * voxel_volume_ml,
        "centre_voxel_zyx": list(test.centre_voxel_zyx), "state": STATE_NAMES[test.state],
        "p_value": test.p_value, "statistic": test.statistic, "power_sigmas": test.power_sigmas,
        "dose_response_estimate": test.dose_response_estimate, "data_coverage": test.data_coverage,
    }  # fmt: skip


def guard_summary(
    result: GuardResult, predicted_contrast: np.ndarray, voxel_volume_ml: float
) -> dict[str, Any]:
    """Per-case numbers (documentation/inference.md, "Per-case summary").

    Args:
        result: from :func:`~gdr_toolkit.inference.hallucination_guard.unsupported_enhancement`.
        predicted_contrast: the y~ it was given (for the signal-weighted fraction).
        voxel_volume_ml: volume of one voxel in ml (mm^3 / 1000).
    """
    signal = np.maximum(np.asarray(predicted_contrast, dtype=np.float64), 0.0)
    predicted_voxels = int(result.predicted.sum())
    unsupported_voxels = int(result.unsupported.sum())
    predicted_signal = float(signal[result.predicted].sum())
    counts = {"regions": len(result.regions), "flagged": sum(t.state == UNSUPPORTED for t in result.regions)}
    counts["judged"] = sum(t.state != NOT_JUDGED for t in result.regions)
    listed = sorted(result.regions, key=lambda test: (-test.state, test.p_value, -test.voxels))
    return {
        "status": result.status,
        "status_text": STATUS_TEXT[result.status].format(**counts, reason=result.reason),
        "predicted_regions": counts["regions"], "judged_regions": counts["judged"],
        "unsupported_regions": counts["flagged"],
        "predicted_ml": predicted_voxels * voxel_volume_ml,
        "assessable_ml": int(result.assessable.sum()) * voxel_volume_ml,
        "unsupported_ml": unsupported_voxels * voxel_volume_ml,
        "unsupported_fraction": unsupported_voxels / predicted_voxels if predicted_voxels else 0.0,
        "unsupported_signal_fraction": (
            float(signal[result.unsupported].sum()) / predicted_signal if predicted_signal > 0 else 0.0
        ),
        "regions": [_region_record(test, voxel_volume_ml) for test in listed[:MAX_LISTED_REGIONS]],
        "dose_response": result.dose_response if np.isfinite(result.dose_response) else None,
        "dose_response_lower_bound": (
            result.dose_response_lower_bound if np.isfinite(result.dose_response_lower_bound) else None
        ),
        "dose_response_estimate": result.dose_response_estimate,
        "noise_sigma": result.noise.sigma, "lag1_correlation": list(result.noise.lag1_correlation),
        "noise_inflation": result.noise.inflation, "noise_voxels": result.noise.noise_voxels,
    }  # fmt: skip


def guard_case(
    case: PreprocessedCase,
    contrast_signal: np.ndarray,
    enhancement_factor: float,
    case_id: str,
    options: GuardOptions | None = None,
) -> CaseGuard:
    """Run the guard on a predicted case.

    Args:
        case: the preprocessed case (PC's grid).
        contrast_signal: float ``(z, y, x)``, the composed contrast k y~ on PC's grid (normalised units).
        enhancement_factor: k; the guard judges y~ = contrast / k (the trained dose), nothing for k = 0.
        case_id: named in the log.
        options: guard parameters (None: the defaults).
    """
    options = options or GuardOptions()
    properties = case.properties
    signal = (
        contrast_signal / enhancement_factor if enhancement_factor > 0 else np.zeros_like(contrast_signal)
    )
    spacing_x, spacing_y, spacing_z = properties.geometry["spacing_mm"]
    dose = properties.condition.get("dose_fraction")
    subtraction, data = raw_ld_subtraction(case)
    result = unsupported_enhancement(
        signal, subtraction, (spacing_z, spacing_y, spacing_x), dose, case.arrays["brain_mask"], data, options,
        case.arrays["x_pc"],
    )  # fmt: skip
    numbers = guard_summary(result, signal, spacing_x * spacing_y * spacing_z / 1000.0)
    numbers["dose_response_source"] = "dose_fraction" if dose is not None else "estimated"
    numbers["options"] = asdict(options)
    log = logger.warning if result.status == "not_assessable" else logger.info
    log("%s: hallucination guard: %s", case_id, numbers["status_text"])
    summary = {
        "format_version": SUMMARY_FORMAT_VERSION,
        "case_id": case_id,
        "noise_sigma_ld": properties.noise_sigma_ld,
        "condition": dict(properties.condition),
        "brain_volume_ml": properties.brain_volume_ml,
        "brain_mask_source": properties.brain_mask_source,
        "brain_mask_warnings": list(properties.brain_mask_warnings),
        "enhancement_factor": enhancement_factor,
        "hallucination_guard": numbers,
    }
    return CaseGuard(result.states, summary)
