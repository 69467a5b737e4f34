"""What the planner needs to know about a dataset, distilled from its fingerprint.

Keeping this small record between fingerprint and planner lets planner rules be tested on invented
datasets (anisotropic, tiny, without metadata) without registering a single image.
"""

from __future__ import annotations

from dataclasses import dataclass

from gdr_toolkit.fingerprint.dataset_fingerprint import METADATA_CONDITION_KEYS, DatasetFingerprint

__all__ = ["METADATA_CONDITION_KEYS", "PlanningInputs", "planning_inputs_from_fingerprint"]


@dataclass(frozen=True)
class PlanningInputs:
    """Per-case geometry and the metadata summary of a dataset.

    Attributes:
        dataset_name: ``DatasetXXX_Name``.
        pre_contrast_spacings_mm: per case, PC voxel size (x, y, z) in mm.
        head_extents_mm: per case, physical extent of the head's bounding box (z, y, x) in mm.
        metadata_present: per condition key, whether every case carries it.
        metadata_varies: per condition key, whether it takes more than one value across cases.
        median_spacing_ratio: median over cases of the CE/PC voxel-size ratio (1 = same resolution).
    """

    dataset_name: str
    pre_contrast_spacings_mm: tuple[tuple[float, float, float], ...]
    head_extents_mm: tuple[tuple[float, float, float], ...]
    metadata_present: dict[str, bool]
    metadata_varies: dict[str, bool]
    median_spacing_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not self.pre_contrast_spacings_mm:
            raise ValueError(f"{self.dataset_name}: no cases to plan for.")
        if len(self.pre_contrast_spacings_mm) != len(self.head_extents_mm):
            raise ValueError(f"{self.dataset_name}: one spacing and one head extent per case are needed.")


def planning_inputs_from_fingerprint(fingerprint: DatasetFingerprint) -> PlanningInputs:
    """Distil a dataset fingerprint (vectors in (x, y, z)) into planner inputs (extents in (z, y, x))."""
    summary = fingerprint.metadata_summary()
    return PlanningInputs(
        dataset_name=fingerprint.dataset_name,
        pre_contrast_spacings_mm=tuple(case.spacing_mm for case in fingerprint.cases),
        head_extents_mm=tuple(case.head_box_mm[::-1] for case in fingerprint.cases),
        metadata_present={key: summary[key].present_in_all_cases for key in METADATA_CONDITION_KEYS},
        metadata_varies={key: summary[key].varies for key in METADATA_CONDITION_KEYS},
        median_spacing_ratio=float(fingerprint.median_ce_to_pc_spacing_ratio),
    )
