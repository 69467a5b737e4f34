"""Plan a dataset from its fingerprint and save the plans file (the library side of gdr_plan_experiment)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gdr_toolkit.fingerprint import DatasetFingerprint
from gdr_toolkit.planning.experiment_planner import find_planner
from gdr_toolkit.planning.planning_inputs import planning_inputs_from_fingerprint
from gdr_toolkit.planning.plans import Plans, plans_path, save_plans
from gdr_toolkit.planning.splits import load_or_create_splits


@dataclass(frozen=True)
class PlannerRequest:
    """What the user may override (None: the planner decides)."""

    planner: str = "ExperimentPlanner"
    gpu_memory_target_gb: float | None = None
    target_spacing_mm: float | None = None
    plans_name: str | None = None
    noise_normalisation: bool | None = None


def plan_experiment(
    fingerprint: DatasetFingerprint,
    preprocessed_dataset_folder: Path,
    raw_dataset_folder: Path,
    request: PlannerRequest = PlannerRequest(),
) -> tuple[Plans, Path]:
    """Run the planner, write ``<plans name>.json`` and ``splits_final.json``; return plans and path."""
    planner = find_planner(request.planner)(
        planning_inputs_from_fingerprint(fingerprint),
        gpu_memory_target_gb=request.gpu_memory_target_gb,
        target_spacing_mm=request.target_spacing_mm,
        plans_name=request.plans_name,
        noise_normalisation=request.noise_normalisation,
    )
    plans = planner.plan()
    path = plans_path(preprocessed_dataset_folder, plans.plans_name)
    save_plans(plans, path)
    load_or_create_splits(preprocessed_dataset_folder, raw_dataset_folder, list(fingerprint.case_ids))
    return plans, path
