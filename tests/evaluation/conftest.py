"""Fixtures of the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from evaluation_data import write_dataset


@pytest.fixture
def evaluation_folders(tmp_path: Path) -> dict[str, Path]:
    return write_dataset(tmp_path)
