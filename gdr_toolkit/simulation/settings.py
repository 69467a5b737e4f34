"""Settings of the phantom generator (one frozen dataclass, JSON round trip)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from gdr_toolkit.dataset.agents import CONTRAST_AGENTS, find_agent

SETTINGS_SCHEMA_VERSION = 3  # 2: field of view, thick-slice PC, MPRAGE, int16 storage, obliquity;
# 3: anatomies, head scale, SNR distribution, correlated noise, skull stripping
IDENTITY_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
CUT_SIDES = ("superior", "inferior", "anterior", "posterior", "left", "right")
FOV_SCANS = ("low_dose", "standard_dose", "both")
MAX_BRAIN_OUTSIDE = 0.5
ANATOMY_NAMES = ("mni152", "colin27")  # anatomy_sources.ANATOMIES (not imported: it loads the atlas module)
SNR_DISTRIBUTIONS = ("uniform", "log_uniform")


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
            (spacing_mm * U[2, 3] along the grid axis ``slice_axis``).
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
        fov_crop_fraction: share of cases whose LD and/or SD slab is planned too small, so that part of
            the brain lies outside that scan's field of view (its grid is cropped: smaller size, other origin).
        fov_crop_scans: which scans get the cropped slab: "low_dose", "standard_dose" or "both".
        fov_brain_outside_range: fraction of the true brain outside the cropped slab, drawn uniformly
            (each scan's slab is placed in its own scanner frame, after its motion).
        fov_cut_sides: the side the slab misses, drawn uniformly ("superior": the top of the head).
        thick_pc_fraction: share of cases whose pre-contrast scan is a thick-slice (2D-like) acquisition.
        thick_slice_mm_range: slice thickness (= slice spacing) of thick-slice PC scans, drawn uniformly, mm
            (in-plane spacing stays ``spacing_mm``); must be >= spacing_mm when used.
        slice_axis: grid axis (0, 1, 2 = first, second, third index axis) of thick slices, PC and LD/SD.
        mprage_fraction: share of cases acquired with an MPRAGE preset instead of spoiled gradient echo.
        storage_dtype: "float32", or "int16" written with NIfTI scl_slope/scl_inter as a scanner does.
        oblique_fraction: share of cases whose scans have oblique direction cosines.
        oblique_angle_range_deg: rotation of the direction cosines about a random axis, degrees; PC and the
            (jointly planned) LD/SD series get separate rotations.
        anatomies: the brains drawn uniformly per case ("mni152", "colin27"; see ``anatomy_sources``).
        head_scale_range: global linear size of the head relative to its atlas, drawn uniformly (brain
            volume scales with its cube).
        snr_distribution: how the SNR is drawn from ``snr_range``: "uniform" or "log_uniform".
        correlated_noise_fraction: share of cases whose noise is spatially correlated (white noise filtered
            with a Gaussian, as resampling makes it; the noise sigma is that after filtering).
        noise_correlation_voxels_range: the Gaussian's standard deviation per grid axis, in voxels of
            each scan's grid, drawn uniformly and independently per axis.
        skull_strip_fraction: share of cases stored brain-extracted: every scan is zero outside its true
            brain mask dilated by a drawn margin (as BraTS distributes its scans).
        skull_strip_dilation_mm_range: that margin in mm, drawn uniformly.
        coregistered_fraction: share of cases delivered co-registered, as archives such as BraTS do: LD
            and SD on PC's grid with no motion between the scans (their own spacing, obliquity and slab
            plans are dropped).
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
    fov_crop_fraction: float = 0.0
    fov_crop_scans: Literal["low_dose", "standard_dose", "both"] = "both"
    fov_brain_outside_range: tuple[float, float] = (0.1, 0.3)
    fov_cut_sides: tuple[str, ...] = ("superior",)
    thick_pc_fraction: float = 0.0
    thick_slice_mm_range: tuple[float, float] = (3.0, 5.0)
    slice_axis: int = 2
    mprage_fraction: float = 0.0
    storage_dtype: Literal["float32", "int16"] = "float32"
    oblique_fraction: float = 0.0
    oblique_angle_range_deg: tuple[float, float] = (3.0, 15.0)
    anatomies: tuple[str, ...] = ("mni152",)
    head_scale_range: tuple[float, float] = (1.0, 1.0)
    snr_distribution: Literal["uniform", "log_uniform"] = "uniform"
    correlated_noise_fraction: float = 0.0
    noise_correlation_voxels_range: tuple[float, float] = (0.3, 1.2)
    skull_strip_fraction: float = 0.0
    skull_strip_dilation_mm_range: tuple[float, float] = (0.0, 3.0)
    coregistered_fraction: float = 0.0

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
        for name in (
            "anisotropic_fraction",
            "fov_crop_fraction",
            "thick_pc_fraction",
            "mprage_fraction",
            "oblique_fraction",
            "correlated_noise_fraction",
            "skull_strip_fraction",
            "coregistered_fraction",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"{name} is a share of cases and must be in [0, 1], got {getattr(self, name)}."
                )
        self._check_realism()
        self._check_variation()
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

    def _check_realism(self) -> None:
        if self.fov_crop_scans not in FOV_SCANS:
            raise ValueError(f"fov_crop_scans must be one of {FOV_SCANS}, got {self.fov_crop_scans!r}.")
        low, high = self.fov_brain_outside_range
        if not 0.0 <= low <= high <= MAX_BRAIN_OUTSIDE:
            raise ValueError(
                f"fov_brain_outside_range must satisfy 0 <= low <= high <= {MAX_BRAIN_OUTSIDE}, "
                f"got {self.fov_brain_outside_range}."
            )
        if not self.fov_cut_sides or not set(self.fov_cut_sides) <= set(CUT_SIDES):
            raise ValueError(
                f"fov_cut_sides must be a non-empty subset of {CUT_SIDES}, got {self.fov_cut_sides}."
            )
        low, high = self.thick_slice_mm_range
        if self.thick_pc_fraction > 0 and not self.spacing_mm <= low <= high:
            raise ValueError(
                f"thick_slice_mm_range must satisfy spacing_mm={self.spacing_mm} <= low <= high mm, "
                f"got {self.thick_slice_mm_range}."
            )
        if self.slice_axis not in (0, 1, 2):
            raise ValueError(f"slice_axis must be 0, 1 or 2, got {self.slice_axis}.")
        if self.storage_dtype not in ("float32", "int16"):
            raise ValueError(f"storage_dtype must be 'float32' or 'int16', got {self.storage_dtype!r}.")
        low, high = self.oblique_angle_range_deg
        if not 0.0 <= low <= high <= 45.0:
            raise ValueError(
                f"oblique_angle_range_deg must satisfy 0 <= low <= high <= 45, got {self.oblique_angle_range_deg}."
            )

    def _check_variation(self) -> None:
        if not self.anatomies or not set(self.anatomies) <= set(ANATOMY_NAMES):
            raise ValueError(
                f"anatomies must be a non-empty subset of {ANATOMY_NAMES}, got {self.anatomies}."
            )
        low, high = self.head_scale_range
        if not 0.5 <= low <= high <= 1.5:
            raise ValueError(
                f"head_scale_range must satisfy 0.5 <= low <= high <= 1.5, got {self.head_scale_range}."
            )
        if self.snr_distribution not in SNR_DISTRIBUTIONS:
            raise ValueError(
                f"snr_distribution must be one of {SNR_DISTRIBUTIONS}, got {self.snr_distribution!r}."
            )
        low, high = self.noise_correlation_voxels_range
        if not 0.0 <= low <= high <= 4.0:
            raise ValueError(
                "noise_correlation_voxels_range must satisfy 0 <= low <= high <= 4 voxels, "
                f"got {self.noise_correlation_voxels_range}."
            )
        low, high = self.skull_strip_dilation_mm_range
        if not 0.0 <= low <= high <= 10.0:
            raise ValueError(
                "skull_strip_dilation_mm_range must satisfy 0 <= low <= high <= 10 mm, "
                f"got {self.skull_strip_dilation_mm_range}."
            )

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

    @classmethod
    def realistic_mix(cls, **overrides: Any) -> SimulationSettings:
        """A mix of what real data brings: about 1/3 of cases with an LD/SD slab missing 10-30 % of the
        brain, 1/4 with a thick-slice PC (3-5 mm, at least 1.5-2.5 x spacing_mm), 1/3 MPRAGE, 1/4 oblique,
        all stored as rescaled int16. ``overrides`` replace any field (e.g. ``spacing_mm``)."""
        spacing_mm = float(overrides.get("spacing_mm", cls.spacing_mm))
        mix: dict[str, Any] = {
            "fov_crop_fraction": 1.0 / 3.0,
            "fov_crop_scans": "both",
            "fov_brain_outside_range": (0.1, 0.3),
            "thick_pc_fraction": 0.25,
            "thick_slice_mm_range": (max(3.0, 1.5 * spacing_mm), max(5.0, 2.5 * spacing_mm)),
            "mprage_fraction": 1.0 / 3.0,
            "storage_dtype": "int16",
            "oblique_fraction": 0.25,
        }
        return cls(**{**mix, **overrides})

    @classmethod
    def real_scans(cls, **overrides: Any) -> SimulationSettings:
        """What training for real scans needs (``--realism real``): :meth:`realistic_mix` plus both
        anatomies, head sizes 0.85-1.02 x the atlas (brain volumes about 1,070-2,000 ml), a 3 mm smooth
        deformation and +-5 % per-axis scaling, SNR 15-500 drawn log-uniformly (sigma_LD down to about
        0.003, below the real scans' values), correlated noise in 2/3 of the cases (Gaussian std 0.3-1.2
        voxels per axis), half the cases skull-stripped (mask dilated by 0-3 mm) and, independently, half
        delivered co-registered (no motion, one grid: the low sigma_LD of archives such as BraTS). See
        documentation/simulation.md for the measurements behind these ranges."""
        variation: dict[str, Any] = {
            "anatomies": ANATOMY_NAMES,
            "head_scale_range": (0.85, 1.02),
            "deformation_mm": 3.0,
            "snr_range": (15.0, 500.0),
            "snr_distribution": "log_uniform",
            "correlated_noise_fraction": 2.0 / 3.0,
            "noise_correlation_voxels_range": (0.3, 1.2),
            "skull_strip_fraction": 0.5,
            "skull_strip_dilation_mm_range": (0.0, 3.0),
            "coregistered_fraction": 0.5,
        }
        return cls.realistic_mix(**{**variation, **overrides})

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
