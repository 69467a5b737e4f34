"""Settings of the phantom generator (one frozen dataclass, JSON round trip)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from gdr_toolkit.dataset.agents import CONTRAST_AGENTS, find_agent

SETTINGS_SCHEMA_VERSION = 1
IDENTITY_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class SimulationSettings:
    """What the simulator draws from and on which grid it writes.

    Attributes:
        spacing_mm: isotropic output spacing of the pre-contrast scan in mm (2 default, 1 works,
            4 for tiny test volumes).
        working_spacing_mm: spacing of the object model in mm; None: half the output spacing, at least
            1 mm (the atlas resolution).
        direction: output direction cosines (row-major 3x3, orthonormal), LPS identity by default. The
            phantom in physical space does not depend on it, only the voxel grid does.
        anisotropic_fraction: fraction of cases whose low- and standard-dose scans have thick slices
            (spacing_mm * U[2, 3] along the grid's third axis).
        field_strengths_t: fields drawn uniformly (tesla).
        agents: generic names of the agents drawn uniformly.
        dose_fraction_range: low dose relative to the standard dose, drawn uniformly.
        snr_range: SNR of the pre-contrast scan (mean white-matter signal / noise sigma), drawn uniformly.
        lesion_count_range: inclusive range of the number of lesions per case.
        lesion_diameter_range_mm: lesion diameters drawn log-uniformly, mm.
        max_rotation_deg: rigid motion of LD and SD: rotation per axis uniform in +-this, degrees.
        max_translation_mm: rigid motion: translation per axis uniform in +-this, mm.
        deformation_mm: standard deviation of the smooth random displacement per axis, mm.
        max_scaling: global scaling per axis uniform in 1 +- this.
        bias_field_strength: typical relative amplitude of the multiplicative bias field.
        gain_range: per-scan receiver gain, drawn uniformly.
        reference_intensity: image intensity of pre-contrast white matter at gain 1 and no bias.
        keep_noiseless: keep the noiseless images in :class:`SimulatedCase` (ground truth).
    """

    spacing_mm: float = 2.0
    working_spacing_mm: float | None = None
    direction: tuple[float, ...] = IDENTITY_DIRECTION
    anisotropic_fraction: float = 0.0
    field_strengths_t: tuple[float, ...] = (1.5, 3.0)
    agents: tuple[str, ...] = tuple(agent.generic_name for agent in CONTRAST_AGENTS)
    dose_fraction_range: tuple[float, float] = (0.1, 0.33)
    snr_range: tuple[float, float] = (15.0, 40.0)
    lesion_count_range: tuple[int, int] = (1, 5)
    lesion_diameter_range_mm: tuple[float, float] = (3.0, 20.0)
    max_rotation_deg: float = 3.0
    max_translation_mm: float = 3.0
    deformation_mm: float = 2.0
    max_scaling: float = 0.05
    bias_field_strength: float = 0.15
    gain_range: tuple[float, float] = (0.8, 1.25)
    reference_intensity: float = 1000.0
    keep_noiseless: bool = True

    def __post_init__(self) -> None:
        if not 0.5 <= self.spacing_mm <= 8.0:
            raise ValueError(f"spacing_mm must be in [0.5, 8] mm, got {self.spacing_mm}.")
        if self.working_spacing_mm is not None and not 0.5 <= self.working_spacing_mm <= self.spacing_mm:
            raise ValueError(
                f"working_spacing_mm must be in [0.5, spacing_mm={self.spacing_mm}] mm, "
                f"got {self.working_spacing_mm}."
            )
        matrix = np.asarray(self.direction, dtype=float)
        if matrix.shape != (9,) or not np.allclose(
            matrix.reshape(3, 3) @ matrix.reshape(3, 3).T, np.eye(3), atol=1e-6
        ):
            raise ValueError(
                f"direction must be 9 numbers of an orthonormal 3x3 matrix, got {self.direction}."
            )
        if not 0.0 <= self.anisotropic_fraction <= 1.0:
            raise ValueError(f"anisotropic_fraction must be in [0, 1], got {self.anisotropic_fraction}.")
        low, high = self.dose_fraction_range
        if not 0 < low <= high < 1:
            raise ValueError(
                f"dose_fraction_range must satisfy 0 < low <= high < 1, got {self.dose_fraction_range}."
            )
        if not 0 < self.snr_range[0] <= self.snr_range[1]:
            raise ValueError(f"snr_range must be positive and ordered, got {self.snr_range}.")
        if not 0 <= self.lesion_count_range[0] <= self.lesion_count_range[1]:
            raise ValueError(f"lesion_count_range must be ordered and >= 0, got {self.lesion_count_range}.")
        if not 0 < self.lesion_diameter_range_mm[0] <= self.lesion_diameter_range_mm[1] <= 40:
            raise ValueError(
                f"lesion_diameter_range_mm must lie in (0, 40] mm, got {self.lesion_diameter_range_mm}."
            )
        if not self.field_strengths_t or not self.agents:
            raise ValueError("field_strengths_t and agents must not be empty.")
        for name in self.agents:
            find_agent(name)

    @property
    def object_spacing_mm(self) -> float:
        """The working (object model) spacing in mm."""
        if self.working_spacing_mm is not None:
            return self.working_spacing_mm
        return max(1.0, self.spacing_mm / 2.0)

    @classmethod
    def tiny(cls, **overrides: Any) -> SimulationSettings:
        """Small, fast volumes for tests: 4 mm output on a 2 mm object grid."""
        return cls(**{"spacing_mm": 4.0, **overrides})

    def to_json_dict(self) -> dict[str, Any]:
        return {"schema_version": SETTINGS_SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_json_dict(cls, record: dict[str, Any]) -> SimulationSettings:
        """Inverse of :meth:`to_json_dict` (lists become tuples)."""
        names = {field.name for field in fields(cls)}
        unknown = set(record) - names - {"schema_version"}
        if unknown:
            raise ValueError(f"Unknown simulation setting(s): {', '.join(sorted(unknown))}.")
        values: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value for key, value in record.items()
        }
        values.pop("schema_version", None)
        return cls(**values)
