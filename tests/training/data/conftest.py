"""Fixtures of the data-loading tests: synthetic cases written directly (fast, exact ground truth)."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_cases import P_SD, blob_stack, write_synthetic_case


@pytest.fixture(scope="module")
def blob_folder(tmp_path_factory) -> Path:
    """Three cases: two with one enhancing blob (different noise), one without enhancing locations."""
    folder = tmp_path_factory.mktemp("preprocessed") / "gdrPlans_synthetic"
    write_synthetic_case(folder, "blob_a", blob_stack(seed=1))
    write_synthetic_case(folder, "blob_b", blob_stack(seed=2))
    empty = blob_stack(shape=(36, 30, 32), seed=3)
    empty[P_SD] = 0.0
    write_synthetic_case(folder, "no_enhancement", empty)
    return folder
