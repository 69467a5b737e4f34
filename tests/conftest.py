"""Fixtures for the whole suite: the one real contrast pair, read from ../shared/real/ where it exists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

REAL_FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "real"


@dataclass(frozen=True)
class RealPair:
    """The public BraTS 2020 pair (skull-stripped, 1 mm, no low dose): a test case, never a training case."""

    pre_contrast: Path
    standard_dose: Path


@pytest.fixture(scope="session")
def real_pair() -> RealPair:
    """The pair in ../shared/real/ (beside the repository); the test is skipped where it is absent."""
    pair = RealPair(
        REAL_FOLDER / "BraTS20_Training_186_t1.nii.gz",
        REAL_FOLDER / "BraTS20_Training_186_t1ce.nii.gz",
    )
    if not (pair.pre_contrast.is_file() and pair.standard_dose.is_file()):
        pytest.skip(f"the real BraTS pair is not in {REAL_FOLDER}")
    return pair
