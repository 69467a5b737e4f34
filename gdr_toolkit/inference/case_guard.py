"""The hallucination guard of one predicted case and the case's summary (``CASE_summary.json``).

Glue between the predictor and :mod:`gdr_toolkit.inference.hallucination_guard`: it takes the arrays of
the preprocessed case (PC's grid, normalised units) and the composed contrast signal, and returns the
``CASE_unsupported`` map and the numbers that go into the per-case summary.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gdr_toolkit.inference.hallucination_guard import GuardOptions, guard_summary, unsupported_enhancement
from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase

logger = logging.getLogger(__name__)
SUMMARY_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class CaseGuard:
    """The guard's outputs for one case.

    Attributes:
        unsupported: uint8 ``(z, y, x)`` on PC's grid, 1 = predicted enhancement without LD support.
        summary: JSON-ready per-case summary (keys: documentation/inference.md, "Per-case summary").
    """

    unsupported: np.ndarray
    summary: dict[str, Any]


def ld_subtraction_eq1(case: PreprocessedCase) -> np.ndarray:
    """z_LD in eq. 1's units (noise std sigma_LD): stored as is when the plan normalises the noise, else
    sigma_LD z~_LD / s_LD (the local mean m_LD is not stored then and is taken as 0)."""
    z_ld = case.arrays["z_ld"].astype(np.float64)
    if case.properties.noise_normalised:
        return z_ld
    return case.properties.noise_sigma_ld * z_ld / np.maximum(case.arrays["s_ld"], 1e-12)


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
    result = unsupported_enhancement(
        signal, ld_subtraction_eq1(case), case.arrays["s_ld"], properties.noise_sigma_ld,
        (spacing_z, spacing_y, spacing_x), dose, case.arrays["brain_mask"], options,
    )  # fmt: skip
    numbers = guard_summary(result, signal, spacing_x * spacing_y * spacing_z / 1000.0)
    numbers["dose_response_source"] = "dose_fraction" if dose is not None else "estimated"
    numbers["options"] = asdict(options)
    logger.info(
        "%s: %.3f ml of %.3f ml predicted enhancement unsupported by the low dose",
        case_id, numbers["unsupported_ml"], numbers["predicted_ml"],
    )  # fmt: skip
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
    return CaseGuard(result.unsupported.astype(np.uint8), summary)
