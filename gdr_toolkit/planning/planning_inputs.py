"""What the planner needs to know about a dataset, distilled from its fingerprint.

Keeping this small record between fingerprint and planner lets planner rules be tested on invented
datasets (anisotropic, tiny, without metadata) without registering a single image.
"""

from __future__ import annotations

from dataclasses import dataclass

METADATA_CONDITION_KEYS = ("dose_fraction", "field_strength_t", "relaxivity")


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
