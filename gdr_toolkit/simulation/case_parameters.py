"""The scalar draws of one simulated case: field, agent, dose, sequence, SNR, gains, motion, anisotropy.

Everything random about a case that is a number (or a rigid transform); the images follow from these and
the other random streams (``case_simulator``). Also the two rules that change drawn parameters: an MPRAGE
preset when the acquisition plan asks for one, and no motion when the archive delivers co-registered scans.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.simulation import artifacts
from gdr_toolkit.simulation.acquisition_plan import SCANS, AcquisitionPlan
from gdr_toolkit.simulation.anatomy import BrainMaps, brain_centre_mm
from gdr_toolkit.simulation.case_variation import draw_snr
from gdr_toolkit.simulation.settings import SimulationSettings
from gdr_toolkit.simulation.signal_equation import SequencePreset, presets_for_field


@dataclass(frozen=True)
class CaseParameters:
    """The scalar draws of one case (the random part; the rest is deterministic given these)."""

    field_strength_t: float
    agent: str
    dose_fraction: float
    preset: SequencePreset
    snr: float
    gains: dict[str, float]
    motion: dict[str, sitk.Euler3DTransform]
    slice_factor: float  # 1: isotropic LD/SD; > 1: LD/SD slice spacing = factor * spacing_mm


def draw_parameters(
    settings: SimulationSettings, maps: BrainMaps, rng: np.random.Generator
) -> CaseParameters:
    """Draw field, agent, dose, sequence, SNR, gains, motion and slice anisotropy."""
    field_strength_t = float(rng.choice(settings.field_strengths_t))
    agent = str(rng.choice(settings.agents))
    dose_fraction = float(rng.uniform(*settings.dose_fraction_range))
    presets = presets_for_field(field_strength_t)
    preset = presets[int(rng.integers(len(presets)))]
    snr = draw_snr(settings, rng)
    gains = {scan: float(rng.uniform(*settings.gain_range)) for scan in SCANS}
    centre = brain_centre_mm(maps)
    motion = {
        scan: artifacts.draw_rigid_motion(rng, settings.max_rotation_deg, settings.max_translation_mm, centre)
        for scan in SCANS[1:]
    }
    anisotropic = rng.random() < settings.anisotropic_fraction
    slice_factor = float(rng.uniform(2.0, 3.0)) if anisotropic else 1.0
    return CaseParameters(field_strength_t, agent, dose_fraction, preset, snr, gains, motion, slice_factor)


def with_sequence_kind(parameters: CaseParameters, plan: AcquisitionPlan) -> CaseParameters:
    """The case parameters with an MPRAGE preset of the same field when the plan asks for one."""
    if not plan.mprage:
        return parameters
    presets = presets_for_field(parameters.field_strength_t, "mprage")
    return replace(parameters, preset=presets[int(plan.preset_draw * len(presets))])


def as_coregistered(
    parameters: CaseParameters, plan: AcquisitionPlan
) -> tuple[CaseParameters, AcquisitionPlan]:
    """The case as an archive delivers co-registered scans: LD and SD on PC's grid, no motion."""
    still = {}
    for scan, transform in parameters.motion.items():
        still[scan] = sitk.Euler3DTransform()
        still[scan].SetCenter(transform.GetCenter())
    return replace(parameters, motion=still, slice_factor=1.0), plan.on_pre_contrast_grid()
