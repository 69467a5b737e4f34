"""The metadata record of a simulated case: scanner keys plus the ground truth under ``"simulation"``."""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.simulation import artifacts
from gdr_toolkit.simulation.acquisition_plan import SCANS, AcquisitionPlan
from gdr_toolkit.simulation.anatomy import inverse_point
from gdr_toolkit.simulation.case_parameters import CaseParameters
from gdr_toolkit.simulation.phantom_object import PhantomObject
from gdr_toolkit.simulation.scanner_storage import Int16Rescaling
from gdr_toolkit.simulation.settings import SimulationSettings


def realism_record(
    plan: AcquisitionPlan,
    brain_fraction_outside: dict[str, float],
    storage: dict[str, Int16Rescaling] | None,
) -> dict[str, Any]:
    """Ground truth of the acquisition plan: obliquity, slab targets, brain outside each scan, storage."""
    return {
        "acquisition": plan.record(),
        "field_of_view": {
            scan: {"brain_fraction_outside": round(fraction, 6)}
            for scan, fraction in brain_fraction_outside.items()
        },
        "storage": {
            scan: storage[scan].record() if storage is not None else {"dtype": "float32"} for scan in SCANS
        },
    }


def case_metadata(
    settings: SimulationSettings,
    seed: int,
    case_index: int,
    parameters: CaseParameters,
    phantom: PhantomObject,
    noise_sigma: dict[str, float],
    grids: dict[str, sitk.Image],
) -> dict[str, Any]:
    """The raw-format metadata of a case (``metadataTr/CASE.json``) with its ground truth under "simulation"."""
    lesions = [
        {
            "label": label,
            "kind": lesion.kind,
            "diameter_mm": round(lesion.diameter_mm, 3),
            "center_mm": [
                round(float(v), 3) for v in inverse_point(phantom.deformation, np.array(lesion.center_mm))
            ],
            "peak_concentration_mmol_per_l": round(lesion.peak_concentration_mmol_per_l, 4),
        }
        for label, lesion in enumerate(phantom.enhancement.lesions, start=1)
    ]
    return {
        **_sequence_metadata(parameters),
        "simulation": {
            "generator": "gdr_toolkit.simulation",
            "seed": seed,
            "case_index": case_index,
            "sequence_preset": parameters.preset.name,
            "relaxivity_l_per_mmol_s": phantom.relaxivity_l_per_mmol_s,
            "standard_dose_mmol_per_kg": phantom.standard_dose_mmol_per_kg,
            "snr": parameters.snr,
            "snr_definition": "mean noiseless pre-contrast signal in white matter (fraction >= 0.9) / noise sigma",
            "noise_sigma": noise_sigma,
            "gain": dict(parameters.gains),
            "motion": {scan: artifacts.rigid_motion_record(parameters.motion[scan]) for scan in SCANS[1:]},
            "scan": {scan: _scan_record(grids[scan]) for scan in SCANS},
            "concentration_mmol_per_l_at_standard_dose": {
                name: (value if isinstance(value, float) else "per lesion")
                for name, value in phantom.enhancement.concentrations.items()
            },
            "lesions": lesions,
            "settings": settings.to_json_dict(),
        },
    }


def _scan_record(grid: sitk.Image) -> dict[str, Any]:
    """Where a scan lies: spacing (mm), size (voxels), origin (mm) and direction (row-major 3x3)."""
    return {
        "spacing_mm": list(grid.GetSpacing()),
        "size": list(grid.GetSize()),
        "origin_mm": list(grid.GetOrigin()),
        "direction": list(grid.GetDirection()),
    }


def _sequence_metadata(parameters: CaseParameters) -> dict[str, Any]:
    """The scanner-level keys of the metadata (field, agent, dose, sequence timing)."""
    preset = parameters.preset
    record: dict[str, Any] = {
        "field_strength_t": parameters.field_strength_t,
        "contrast_agent": parameters.agent,
        "dose_fraction": parameters.dose_fraction,
        "repetition_time_ms": preset.repetition_time_ms,
        "echo_time_ms": preset.echo_time_ms,
        "flip_angle_deg": preset.flip_angle_deg,
    }
    if preset.kind == "mprage":
        record["inversion_time_ms"] = preset.inversion_time_ms
    record["scanner"] = "simulated"
    return record
