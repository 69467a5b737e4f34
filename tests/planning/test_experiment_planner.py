"""Planner rules on invented datasets (no images needed)."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.planning.experiment_planner import (
    ExperimentPlanner,
    ExperimentPlanner_NoNoiseNorm,
    find_planner,
)
from gdr_toolkit.planning.planning_inputs import PlanningInputs
from gdr_toolkit.planning.plans import Plans

ALL_METADATA = {"dose_fraction": True, "field_strength_t": True, "relaxivity": True}
HEAD_MM = (180.0, 220.0, 180.0)


def inputs(
    num_cases: int = 20,
    spacing=(1.0, 1.0, 1.0),
    head_mm=HEAD_MM,
    present=ALL_METADATA,
    varies=ALL_METADATA,
    ratio: float = 1.0,
) -> PlanningInputs:
    return PlanningInputs(
        dataset_name="Dataset001_Test",
        pre_contrast_spacings_mm=(tuple(spacing),) * num_cases,
        head_extents_mm=(tuple(head_mm),) * num_cases,
        metadata_present=dict(present),
        metadata_varies=dict(varies),
        median_spacing_ratio=ratio,
    )


def test_anisotropic_dataset_trains_at_its_in_plane_resolution():
    assert ExperimentPlanner(inputs(spacing=(1.0, 1.0, 3.0))).target_spacing_mm() == 1.0
    mixed = PlanningInputs(
        "Dataset001_Mixed",
        ((0.5, 0.5, 1.0), (1.0, 1.0, 1.0), (1.0, 1.0, 1.2)),
        (HEAD_MM,) * 3,
        ALL_METADATA,
        ALL_METADATA,
    )
    assert ExperimentPlanner(mixed).target_spacing_mm() == 1.0


def test_spacing_override_wins():
    assert ExperimentPlanner(inputs(), target_spacing_mm=1.5).target_spacing_mm() == 1.5


def test_dataset_without_metadata_conditions_on_sigma_only():
    none = dict.fromkeys(ALL_METADATA, False)
    assert ExperimentPlanner(inputs(present=none, varies=none)).condition_keys() == ("noise_sigma_ld",)


def test_single_field_strength_is_not_a_condition():
    varies = {**ALL_METADATA, "field_strength_t": False}
    keys = ExperimentPlanner(inputs(varies=varies)).condition_keys()
    assert keys == ("dose_fraction", "relaxivity", "noise_sigma_ld")


def test_noise_normalisation_follows_the_resolution_ratio_and_can_be_overridden():
    assert ExperimentPlanner(inputs(ratio=1.0)).use_noise_normalisation()
    assert not ExperimentPlanner(inputs(ratio=2.5)).use_noise_normalisation()
    assert ExperimentPlanner(inputs(ratio=2.5), noise_normalisation=True).use_noise_normalisation()
    assert not ExperimentPlanner_NoNoiseNorm(inputs()).use_noise_normalisation()


def test_patch_fits_the_budget_is_divisible_and_keeps_a_4_voxel_bottleneck():
    plans = ExperimentPlanner(inputs(), gpu_memory_target_gb=8).plan()
    for plan in plans.configurations.values():
        scales = len(plan.network["widths"])
        assert all(edge % 2 ** (scales - 1) == 0 for edge in plan.patch_size)
        assert min(plan.patch_size) // 2 ** (scales - 1) >= 4
        assert plan.estimated_memory_bytes <= plan.memory_budget_bytes
        assert plan.batch_size >= 2
    assert plans.configuration("3d_fullres").network["widths"] == [32, 64, 128, 256]
    assert max(plans.configuration("3d_cpu").patch_size) <= 32
    assert plans.configuration("3d_cpu").batch_size <= 4  # compute-bound on CPU: 32^3 x 4 (convergence.md)


def test_smaller_gpu_gives_smaller_patch_or_batch():
    large = (
        ExperimentPlanner(inputs(num_cases=200), gpu_memory_target_gb=40).plan().configuration("3d_fullres")
    )
    small = (
        ExperimentPlanner(inputs(num_cases=200), gpu_memory_target_gb=6).plan().configuration("3d_fullres")
    )
    assert np.prod(small.patch_size) * small.batch_size < np.prod(large.patch_size) * large.batch_size


def test_patch_is_never_larger_than_the_median_image():
    plan = ExperimentPlanner(inputs(head_mm=(40.0, 72.0, 56.0))).plan().configuration("3d_fullres")
    assert all(p <= m for p, m in zip(plan.patch_size, plan.median_image_shape, strict=True))


def test_tiny_dataset_caps_the_batch_at_five_percent_of_its_voxels():
    tiny = ExperimentPlanner(inputs(num_cases=3), gpu_memory_target_gb=80).plan().configuration("3d_fullres")
    assert tiny.batch_size == 2  # memory would allow far more
    big = ExperimentPlanner(inputs(num_cases=400), gpu_memory_target_gb=80).plan().configuration("3d_fullres")
    assert big.batch_size > 2
    voxels = 400 * np.prod(np.asarray(HEAD_MM) / big.spacing_mm)
    assert big.batch_size * np.prod(big.patch_size) <= 0.05 * voxels


def test_plans_round_trip_through_json():
    plans = ExperimentPlanner(inputs()).plan()
    assert Plans.from_json_dict(plans.to_json_dict()) == plans
    with pytest.raises(ValueError, match="schema version"):
        Plans.from_json_dict({**plans.to_json_dict(), "schema_version": 99})


def test_planners_are_found_by_name():
    assert find_planner("ExperimentPlanner_NoNoiseNorm") is ExperimentPlanner_NoNoiseNorm
    with pytest.raises(ValueError, match="available"):
        find_planner("Nope")
