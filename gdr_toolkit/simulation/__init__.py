"""Physics-based brain phantom and synthetic low-dose generation (documentation/simulation.md).

The public entry points are :func:`simulate_case` (one case in memory) and
:func:`write_simulated_dataset` (a complete raw dataset on disk).
"""

from __future__ import annotations

from gdr_toolkit.simulation.case_simulator import SimulatedCase, simulate_case
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.simulation.settings import SimulationSettings

__all__ = ["SimulatedCase", "SimulationSettings", "simulate_case", "write_simulated_dataset"]
