"""The plans file (``plans.json``): the single source of truth for preprocessing, training and inference.

Layout::

    {"schema_version": 1, "dataset_name": ..., "plans_name": "gdrPlans", "planner": "ExperimentPlanner",
     "fingerprint_summary": {...}, "configurations": {"3d_fullres": {...}, "3d_cpu": {...}}}

Every configuration names its ``data_identifier``: the folder of preprocessed data it trains on.
Configurations that preprocess identically (same spacing and noise normalisation) share it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from gdr_toolkit.file_io import read_json, write_json_atomic

PLANS_SCHEMA_VERSION = 1
CONDITION_KEYS_ORDER = ("dose_fraction", "field_strength_t", "relaxivity", "noise_sigma_ld")


@dataclass(frozen=True)
class ConfigurationPlan:
    """One trainable configuration.

    Attributes:
        data_identifier: folder name of the preprocessed data under the dataset's preprocessed folder.
        spacing_mm: isotropic voxel size of the preprocessed data, mm.
        patch_size: training patch, voxels (z, y, x), divisible by 2**(scales - 1).
        batch_size: patches per step (>= 2).
        network: the network configuration (``NetworkConfig.to_json_dict()``).
        condition_keys: condition inputs in order, a subset of CONDITION_KEYS_ORDER.
        noise_normalisation: whether eq. 1 is applied in preprocessing.
        local_noise_kernel_mm: std of the Gaussian of the local noise statistics, mm.
        target_device: the hardware the patch and batch were planned for.
        memory_budget_bytes: the budget the patch and batch were fitted to.
        estimated_memory_bytes: the estimated peak memory of one training step.
        median_image_shape: median cropped image shape at ``spacing_mm``, voxels (z, y, x).
    """

    data_identifier: str
    spacing_mm: float
    patch_size: tuple[int, int, int]
    batch_size: int
    network: dict[str, Any]
    condition_keys: tuple[str, ...]
    noise_normalisation: bool
    local_noise_kernel_mm: float
    target_device: Literal["gpu", "cpu"]
    memory_budget_bytes: int
    estimated_memory_bytes: int
    median_image_shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        """Make ``patch_size`` and ``median_image_shape`` tuples of three Python ints, whatever sequence of
        integers (JSON lists, numpy integers) the plan was built from: the one place that guarantees their
        type, so code reading a plan uses them as they are."""
        for name in ("patch_size", "median_image_shape"):
            object.__setattr__(self, name, voxel_shape(getattr(self, name), name))
        object.__setattr__(self, "condition_keys", tuple(self.condition_keys))

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json_dict(cls, record: dict[str, Any]) -> ConfigurationPlan:
        names = {item.name for item in fields(cls)}
        missing = names - set(record)
        if missing:
            raise ValueError(f"configuration plan lacks {sorted(missing)}")
        return cls(**{name: record[name] for name in names})


def voxel_shape(values: Any, name: str) -> tuple[int, int, int]:
    """``values`` as a tuple of three positive Python ints (z, y, x), voxels.

    Args:
        values: a sequence of three integers (ints, numpy integers or integral floats such as ``64.0``).
        name: the field's name, for the error message.

    Raises:
        ValueError: not three positive whole numbers.
    """
    try:
        edges = tuple(values)
        whole = len(edges) == 3 and all(int(edge) == edge and int(edge) >= 1 for edge in edges)
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise ValueError(f"{name} must be three positive whole numbers of voxels (z, y, x), got {values!r}")
    return (int(edges[0]), int(edges[1]), int(edges[2]))


@dataclass(frozen=True)
class Plans:
    """All configurations of one dataset (see module docstring)."""

    dataset_name: str
    plans_name: str
    planner: str
    configurations: dict[str, ConfigurationPlan]
    fingerprint_summary: dict[str, Any] = field(default_factory=dict)
    schema_version: int = PLANS_SCHEMA_VERSION

    def configuration(self, name: str) -> ConfigurationPlan:
        if name not in self.configurations:
            raise KeyError(
                f"Plans {self.plans_name!r} of {self.dataset_name} have no configuration {name!r}; "
                f"available: {', '.join(self.configurations)}."
            )
        return self.configurations[name]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "dataset_name": self.dataset_name,
            "plans_name": self.plans_name,
            "planner": self.planner,
            "fingerprint_summary": self.fingerprint_summary,
            "configurations": {name: plan.to_json_dict() for name, plan in self.configurations.items()},
        }

    @classmethod
    def from_json_dict(cls, record: dict[str, Any], source: str = "plans") -> Plans:
        version = record.get("schema_version")
        if version != PLANS_SCHEMA_VERSION:
            raise ValueError(
                f"{source}: plans schema version {version!r} is not supported (expected "
                f"{PLANS_SCHEMA_VERSION}); re-run gdr_plan_experiment."
            )
        try:
            configurations = {
                name: ConfigurationPlan.from_json_dict(plan)
                for name, plan in record["configurations"].items()
            }
            return cls(
                dataset_name=record["dataset_name"],
                plans_name=record["plans_name"],
                planner=record["planner"],
                configurations=configurations,
                fingerprint_summary=record.get("fingerprint_summary", {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{source}: malformed plans ({error}).") from error


def plans_path(preprocessed_dataset_folder: Path, plans_name: str) -> Path:
    """``$gdr_preprocessed/DatasetXXX_Name/<plans_name>.json``."""
    return Path(preprocessed_dataset_folder) / f"{plans_name}.json"


def save_plans(plans: Plans, path: Path) -> None:
    write_json_atomic(plans.to_json_dict(), path)


def load_plans(path: Path) -> Plans:
    return Plans.from_json_dict(read_json(path), source=str(path))
