"""The documented fill of a CE scan's arrays outside its field of view (preprocessing_numerics.md,
"Valid-data mask")."""

from __future__ import annotations

import numpy as np


def fill_outside_valid(
    x_ce: np.ndarray,
    x_pc: np.ndarray,
    subtraction: np.ndarray,
    local_std: np.ndarray,
    valid: np.ndarray,
    region: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, z and s of one CE scan with x := x_PC, z := 0 and s := median of s over ``region`` outside valid.

    Args:
        x_ce: normalised CE scan, float array (z, y, x).
        x_pc: normalised PC scan, same shape.
        subtraction: z of this CE scan, same shape.
        local_std: s of this CE scan, same shape.
        valid: bool array, where the CE scan has data.
        region: bool array, brain & valid (where s's median is taken); not empty.

    Returns:
        float32 arrays x, z, s of the same shape.
    """
    fill = float(np.median(local_std[region]))
    return (
        np.where(valid, x_ce, x_pc).astype(np.float32),
        np.where(valid, subtraction, 0.0).astype(np.float32),
        np.where(valid, local_std, fill).astype(np.float32),
    )
