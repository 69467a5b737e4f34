"""Builders of preprocessed cases whose low dose lacks the top of the volume (valid-data masks)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase

MISSING_FRACTION = 0.25


def valid_mask_without_top(shape: tuple[int, ...], fraction: float = MISSING_FRACTION) -> np.ndarray:
    """uint8 (z, y, x): 0 on the top ``fraction`` of the z axis, 1 below."""
    mask = np.ones(shape, np.uint8)
    mask[shape[0] - int(round(fraction * shape[0])) :] = 0
    return mask


def cropped_case(
    case: PreprocessedCase, fill_low_dose: float | None = 0.0, **properties: Any
) -> PreprocessedCase:
    """``case`` with a valid mask lacking the top quarter and x_LD set to ``fill_low_dose`` there (0: the
    zero-filled resampling of a scan without data; None: left as is). Keyword arguments become extra
    properties (e.g. ``coverage``, ``registration_quality``) on a copy of the case's properties."""
    valid = valid_mask_without_top(case.arrays["x_pc"].shape)
    arrays = {**case.arrays, "valid_mask": valid}
    if fill_low_dose is not None:
        arrays["x_ld"] = np.where(valid > 0, case.arrays["x_ld"], fill_low_dose).astype(np.float32)
    # the case's own coverage and registration record describe the uncropped scan: empty unless given
    overrides = {"coverage": {}, "registration_quality": {}, **properties}
    return dataclasses.replace(
        case, arrays=arrays, properties=dataclasses.replace(case.properties, **overrides)
    )
