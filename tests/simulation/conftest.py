"""Shared tiny simulated cases (4 mm output on a 2 mm object grid)."""

from __future__ import annotations

import pytest

from gdr_toolkit.simulation import SimulationSettings, simulate_case

STILL = {"max_rotation_deg": 0.0, "max_translation_mm": 0.0, "gain_range": (1.0, 1.0)}


@pytest.fixture(scope="session")
def tiny_case():
    return simulate_case(SimulationSettings.tiny(), seed=3, case_index=0)


@pytest.fixture(scope="session")
def still_case():
    """No motion and unit gains: scans can be compared voxel by voxel."""
    return simulate_case(SimulationSettings.tiny(**STILL), seed=5, case_index=0)
