"""Small statistics of the hallucination guard: the Benjamini-Hochberg step-up and the displaced overlap.

Pure functions over numpy arrays (documentation/inference.md, "Hallucination guard").
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def benjamini_hochberg(p_values: np.ndarray, fdr: float) -> np.ndarray:
    """bool per p-value: rejected by the Benjamini-Hochberg step-up procedure at level ``fdr``."""
    p_values = np.asarray(p_values, dtype=np.float64)
    count = p_values.size
    if count == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p_values, kind="stable")
    below = p_values[order] <= fdr * np.arange(1, count + 1) / count
    rejected = np.zeros(count, dtype=bool)
    if below.any():
        rejected[order[: int(np.nonzero(below)[0].max()) + 1]] = True
    return rejected


SHIFT_DIRECTIONS = (
    np.array(
        [
            direction
            for direction in np.ndindex(3, 3, 3)
            if direction != (1, 1, 1) and sum(abs(d - 1) for d in direction) in (1, 3)
        ],
        dtype=np.float64,
    )
    - 1.0
)  # the 6 axis and the 8 diagonal unit directions (before normalising)


def displaced_overlap(template: np.ndarray, predicted: np.ndarray, shift_voxels: float) -> float:
    """min over 14 directions of <w, q shifted by ``shift_voxels``> (linear interpolation; <w, q> for 0).

    Args:
        template: w, float ``(a, b, c)``.   predicted: q of the same region, same crop.
        shift_voxels: the registration tolerance in voxels.
    """
    if shift_voxels <= 0:
        return float(np.sum(template * predicted))
    padded_w, padded_q = (np.pad(array, int(math.ceil(shift_voxels))) for array in (template, predicted))
    overlaps = [
        float(
            np.sum(
                padded_w
                * ndimage.shift(padded_q, shift_voxels * d / np.linalg.norm(d), order=1, mode="constant")
            )
        )
        for d in SHIFT_DIRECTIONS
    ]
    return min(overlaps)
