"""Synthetic preprocessed cases with exact ground truth, written with ``case_storage.write_case``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gdr_toolkit.preprocessing import case_storage
from gdr_toolkit.preprocessing.preprocessor import STORED_CHANNELS

P_SD = STORED_CHANNELS.index("p_sd")
VALID = STORED_CHANNELS.index("valid_mask")
BLOB_START = (30, 10, 20)
BLOB_EDGE = 4


def write_synthetic_case(
    folder: Path, case_id: str, stack: np.ndarray, locations: Sequence[Sequence[int]] | None = None
) -> None:
    """Store a float32 (C, z, y, x) stack (C = len(STORED_CHANNELS)); locations default to the voxels with p_SD > 0.5."""
    if locations is None:
        locations = np.argwhere(stack[P_SD] > 0.5).tolist()
    properties = {
        "case_id": case_id,
        "channels": list(STORED_CHANNELS),
        "shape_zyx": list(stack.shape[1:]),
        "enhancing_locations_zyx": [list(map(int, location)) for location in locations],
    }
    case_storage.write_case(folder, case_id, stack, properties)


def blob_stack(shape: tuple[int, int, int] = (48, 40, 44), seed: int = 0) -> np.ndarray:
    """Random channels, with p_SD = 1 on one BLOB_EDGE^3 cube at BLOB_START and 0 elsewhere; every voxel
    valid (valid_mask 1)."""
    stack = np.random.default_rng(seed).random((len(STORED_CHANNELS), *shape), dtype=np.float32)
    stack[VALID] = 1.0
    stack[P_SD] = 0.0
    stack[(P_SD, *(slice(s, s + BLOB_EDGE) for s in BLOB_START))] = 1.0
    return stack
