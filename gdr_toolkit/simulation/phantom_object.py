"""The noiseless object of a simulated case in the atlas frame: anatomy, enhancement, signals, deformation.

Computed once per case on the working grid: three signal images (PC, LD, SD doses) scaled so that white
matter has ``settings.reference_intensity``, plus the smooth deformation object -> atlas the scans are
rendered through (``scan_acquisition``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.agents import find_agent
from gdr_toolkit.simulation.anatomy import BrainMaps, head_fractions, random_deformation
from gdr_toolkit.simulation.case_parameters import CaseParameters
from gdr_toolkit.simulation.enhancement import EnhancementMaps, dose_scale, simulate_enhancement
from gdr_toolkit.simulation.object_model import noiseless_signals, tissue_signal
from gdr_toolkit.simulation.settings import SimulationSettings


@dataclass(frozen=True)
class PhantomObject:
    """The noiseless object of a case in the atlas frame (working grid)."""

    signals: list[np.ndarray]  # PC, LD, SD signal, float32 (z, y, x), image intensity units at gain 1
    enhancement: EnhancementMaps
    deformation: sitk.Transform  # object (PC physical point) -> atlas
    relaxivity_l_per_mmol_s: float
    standard_dose_mmol_per_kg: float


def build_phantom_object(
    settings: SimulationSettings,
    maps: BrainMaps,
    parameters: CaseParameters,
    streams: list[np.random.Generator],
    head_scale: float = 1.0,
) -> PhantomObject:
    """Anatomy, enhancement, the three noiseless signals and the deformation (streams 1-3)."""
    native = head_fractions(maps, streams[1])
    enhancement = simulate_enhancement(maps, native["dura"], streams[2], settings)
    agent = find_agent(parameters.agent)
    relaxivity = agent.relaxivity_l_per_mmol_s(parameters.field_strength_t)
    scales = [
        0.0,
        dose_scale(parameters.dose_fraction, agent.standard_dose_mmol_per_kg),
        dose_scale(1.0, agent.standard_dose_mmol_per_kg),
    ]
    signals = noiseless_signals(
        native, enhancement, parameters.field_strength_t, parameters.preset, relaxivity, scales
    )
    white_matter_signal = float(tissue_signal("white_matter", parameters.field_strength_t, parameters.preset))
    intensity = np.float32(settings.reference_intensity / white_matter_signal)
    deformation = random_deformation(
        maps, streams[3], settings.deformation_mm, settings.max_scaling, head_scale
    )
    return PhantomObject(
        [signal * intensity for signal in signals],
        enhancement,
        deformation,
        relaxivity,
        agent.standard_dose_mmol_per_kg,
    )
