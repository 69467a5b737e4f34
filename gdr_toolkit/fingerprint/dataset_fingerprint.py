"""The dataset fingerprint (``dataset_fingerprint.json``): every case's fingerprint plus derived summaries.

Only the cases are stored as data; every summary (median spacing, metadata spread, ...) is derived from
them, so the two can never disagree. :meth:`DatasetFingerprint.to_json_dict` also writes the summaries
under ``"summary"`` for people and tools reading the file; :meth:`DatasetFingerprint.from_json_dict`
ignores that block.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gdr_toolkit.fingerprint.case_fingerprint import CaseFingerprint

FINGERPRINT_SCHEMA_VERSION = 1
METADATA_CONDITION_KEYS = ("dose_fraction", "field_strength_t", "relaxivity")


@dataclass(frozen=True)
class MetadataSummary:
    """Spread of one metadata value over the cases.

    Attributes:
        key: dose_fraction, field_strength_t or relaxivity (the condition keys).
        present_in_all_cases: every case carries the value.
        present_in_cases: number of cases that carry it.
        unique_values: the distinct values, sorted (rounded to 6 significant digits).
        varies: more than one distinct value.
        minimum: smallest value, or None when no case has it.
        maximum: largest value, or None.
    """

    key: str
    present_in_all_cases: bool
    present_in_cases: int
    unique_values: tuple[float, ...]
    varies: bool
    minimum: float | None
    maximum: float | None

    def to_json_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["unique_values"] = list(self.unique_values)
        return record


def summarise_values(key: str, values: list[float | None]) -> MetadataSummary:
    """Summarise one metadata key over cases (None = missing in that case)."""
    present = [float(value) for value in values if value is not None]
    unique = tuple(sorted({float(f"{value:.6g}") for value in present}))
    return MetadataSummary(
        key=key,
        present_in_all_cases=bool(values) and len(present) == len(values),
        present_in_cases=len(present),
        unique_values=unique,
        varies=len(unique) > 1,
        minimum=min(present) if present else None,
        maximum=max(present) if present else None,
    )


@dataclass(frozen=True)
class DatasetFingerprint:
    """Fingerprint of a raw dataset's training cases.

    Attributes:
        dataset_name: ``DatasetXXX_Name`` folder name.
        cases: per-case fingerprints, sorted by case id (at least one).
        schema_version: version of the JSON layout (:data:`FINGERPRINT_SCHEMA_VERSION`).
    """

    dataset_name: str
    cases: tuple[CaseFingerprint, ...]
    schema_version: int = FINGERPRINT_SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.cases:
            raise ValueError(f"{self.dataset_name}: a fingerprint needs at least one case.")

    @property
    def case_ids(self) -> tuple[str, ...]:
        return tuple(case.case_id for case in self.cases)

    @property
    def median_spacing_mm(self) -> tuple[float, float, float]:
        """Per-axis median of the PC voxel sizes (x, y, z), mm."""
        return _median_vector([case.spacing_mm for case in self.cases])

    @property
    def median_shape(self) -> tuple[int, int, int]:
        """Per-axis median of the PC grid sizes (x, y, z), voxels (rounded)."""
        first, second, third = _median_vector([case.shape for case in self.cases])
        return round(first), round(second), round(third)

    @property
    def median_head_box_mm(self) -> tuple[float, float, float]:
        """Per-axis median of the head bounding-box sizes (x, y, z), mm: the cropped field of view."""
        return _median_vector([case.head_box_mm for case in self.cases])

    @property
    def median_head_box_shape(self) -> tuple[int, int, int]:
        """Per-axis median of the head bounding-box sizes (x, y, z), PC voxels (rounded)."""
        first, second, third = _median_vector([case.head_box_shape for case in self.cases])
        return round(first), round(second), round(third)

    @property
    def total_brain_voxels(self) -> int:
        """Brain-mask voxels summed over cases (PC grids)."""
        return sum(case.brain_voxel_count for case in self.cases)

    @property
    def total_head_box_voxels(self) -> int:
        """Voxels of the head bounding boxes summed over cases (the cropped data the network sees)."""
        return sum(int(np.prod(case.head_box_shape)) for case in self.cases)

    @property
    def contrast_agents(self) -> tuple[str, ...]:
        """Distinct agent names found in the metadata (lower case, sorted)."""
        return tuple(sorted({case.contrast_agent.lower() for case in self.cases if case.contrast_agent}))

    @property
    def median_ce_to_pc_spacing_ratio(self) -> float:
        """Median over cases of :attr:`CaseFingerprint.ce_to_pc_spacing_ratio`."""
        return float(np.median([case.ce_to_pc_spacing_ratio for case in self.cases]))

    @property
    def noise_sigma_ld_range(self) -> dict[str, float]:
        """min, median and max of sigma_LD over cases (normalised units)."""
        sigmas = [case.noise_sigma_ld for case in self.cases]
        return {
            "min": float(np.min(sigmas)),
            "median": float(np.median(sigmas)),
            "max": float(np.max(sigmas)),
        }

    def metadata_summary(self) -> dict[str, MetadataSummary]:
        """Per condition key (dose_fraction, field_strength_t, relaxivity): presence and spread."""
        return {
            key: summarise_values(key, [getattr(case, key) for case in self.cases])
            for key in METADATA_CONDITION_KEYS
        }

    def summary(self) -> dict[str, Any]:
        """All derived summaries as a JSON-ready dictionary (the ``"summary"`` block of the file)."""
        return {
            "num_cases": len(self.cases),
            "median_spacing_mm": list(self.median_spacing_mm),
            "median_shape": list(self.median_shape),
            "median_head_box_mm": list(self.median_head_box_mm),
            "median_head_box_shape": list(self.median_head_box_shape),
            "total_brain_voxels": self.total_brain_voxels,
            "total_head_box_voxels": self.total_head_box_voxels,
            "median_ce_to_pc_spacing_ratio": self.median_ce_to_pc_spacing_ratio,
            "noise_sigma_ld": self.noise_sigma_ld_range,
            "contrast_agents": list(self.contrast_agents),
            "metadata": {key: value.to_json_dict() for key, value in self.metadata_summary().items()},
        }

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "dataset_name": self.dataset_name,
            "summary": self.summary(),
            "cases": [case.to_json_dict() for case in self.cases],
        }

    @classmethod
    def from_json_dict(
        cls, record: dict[str, Any], source: str = "dataset_fingerprint.json"
    ) -> DatasetFingerprint:
        """Inverse of :meth:`to_json_dict` (the summary block is recomputed, not read).

        Raises:
            ValueError: another schema version or a missing key; the message names ``source``.
        """
        version = record.get("schema_version")
        if version != FINGERPRINT_SCHEMA_VERSION:
            raise ValueError(
                f"{source}: schema_version {version!r}, expected {FINGERPRINT_SCHEMA_VERSION}; "
                "re-extract the fingerprint (gdr_extract_fingerprint --clean)."
            )
        missing = [key for key in ("dataset_name", "cases") if key not in record]
        if missing:
            raise ValueError(f"{source}: missing key(s) {', '.join(missing)}.")
        return cls(
            dataset_name=str(record["dataset_name"]),
            cases=tuple(CaseFingerprint.from_json_dict(case, source) for case in record["cases"]),
            schema_version=version,
        )


def _median_vector(vectors: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    first, second, third = (float(v) for v in np.median(np.asarray(vectors, dtype=float), axis=0))
    return first, second, third
