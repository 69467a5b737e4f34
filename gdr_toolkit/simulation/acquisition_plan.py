"""Per-case draws of how the scans were planned: thick slices, obliquity, slab coverage, sequence type.

Everything here comes from the case's own random stream (the 7th child of the case's SeedSequence), and
every draw is made whatever the settings, so turning one effect on or changing its share leaves the
other draws, and every default case, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gdr_toolkit.simulation.scan_geometry import oblique_direction
from gdr_toolkit.simulation.settings import SimulationSettings

SCANS = ("pre_contrast", "low_dose", "standard_dose")
CONTRAST_SCANS = SCANS[1:]


@dataclass(frozen=True)
class AcquisitionPlan:
    """How the three scans of a case were planned.

    Attributes:
        spacing_mm: per scan, voxel spacing (3 values, grid axis order), mm.
        direction: per scan, direction cosines (row-major 3x3).
        oblique_angle_deg: per scan, the rotation applied to ``settings.direction`` (0: not oblique).
        fov_target: per scan whose slab is cropped, the drawn fraction of the brain to leave outside.
        cut_side: the side the cropped slabs miss (None when no scan is cropped).
        mprage: the case uses an MPRAGE preset instead of spoiled gradient echo.
        preset_draw: uniform [0, 1) draw that picks the MPRAGE preset among those of the field.
    """

    spacing_mm: dict[str, tuple[float, float, float]]
    direction: dict[str, tuple[float, ...]]
    oblique_angle_deg: dict[str, float]
    fov_target: dict[str, float]
    cut_side: str | None
    mprage: bool
    preset_draw: float

    def on_pre_contrast_grid(self) -> AcquisitionPlan:
        """The plan with LD and SD on PC's grid (PC's spacing and direction, no slab cut): co-registered
        scans as an archive delivers them."""
        return replace(
            self,
            spacing_mm=dict.fromkeys(SCANS, self.spacing_mm["pre_contrast"]),
            direction=dict.fromkeys(SCANS, self.direction["pre_contrast"]),
            oblique_angle_deg=dict.fromkeys(SCANS, self.oblique_angle_deg["pre_contrast"]),
            fov_target={},
            cut_side=None,
        )

    def record(self) -> dict[str, Any]:
        """The JSON ground-truth record (``metadata["simulation"]["acquisition"]``)."""
        return {
            "sequence_kind": "mprage" if self.mprage else "spgr",
            "oblique_angle_deg": dict(self.oblique_angle_deg),
            "fov_target_brain_fraction_outside": dict(self.fov_target),
            "fov_cut_side": self.cut_side,
        }


def _spacings(
    settings: SimulationSettings, slice_factor: float, pc_thickness_mm: float | None
) -> dict[str, tuple[float, float, float]]:
    def with_slices(thickness_mm: float) -> tuple[float, float, float]:
        spacing = [settings.spacing_mm] * 3
        spacing[settings.slice_axis] = thickness_mm
        return (spacing[0], spacing[1], spacing[2])

    contrast = with_slices(settings.spacing_mm * slice_factor)
    pre = with_slices(pc_thickness_mm) if pc_thickness_mm is not None else (settings.spacing_mm,) * 3
    return {"pre_contrast": pre, "low_dose": contrast, "standard_dose": contrast}


def draw_acquisition_plan(
    settings: SimulationSettings, rng: np.random.Generator, slice_factor: float
) -> AcquisitionPlan:
    """Draw the plan of one case (a fixed sequence of draws, see the module docstring).

    Args:
        settings: shares and ranges of each effect.
        rng: the case's acquisition-plan stream.
        slice_factor: LD/SD slice spacing / spacing_mm (1: isotropic), drawn with the case parameters.
    """
    crop = rng.random() < settings.fov_crop_fraction
    target = float(rng.uniform(*settings.fov_brain_outside_range))
    side = str(rng.choice(settings.fov_cut_sides))
    thick = rng.random() < settings.thick_pc_fraction
    thickness_mm = float(rng.uniform(*settings.thick_slice_mm_range))
    mprage = rng.random() < settings.mprage_fraction
    preset_draw = float(rng.random())
    oblique = rng.random() < settings.oblique_fraction
    axes = rng.normal(size=(2, 3))  # PC plan, LD/SD plan (planned together after the injection)
    angles = rng.uniform(*settings.oblique_angle_range_deg, size=2) * oblique
    directions = [oblique_direction(settings.direction, axes[k], angles[k]) for k in range(2)]
    cropped = CONTRAST_SCANS if settings.fov_crop_scans == "both" else (settings.fov_crop_scans,)
    return AcquisitionPlan(
        spacing_mm=_spacings(settings, slice_factor, thickness_mm if thick else None),
        direction={"pre_contrast": directions[0], "low_dose": directions[1], "standard_dose": directions[1]},
        oblique_angle_deg={
            "pre_contrast": float(angles[0]),
            "low_dose": float(angles[1]),
            "standard_dose": float(angles[1]),
        },
        fov_target={scan: target for scan in cropped} if crop else {},
        cut_side=side if crop else None,
        mprage=bool(mprage),
        preset_draw=preset_draw,
    )
