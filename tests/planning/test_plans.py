"""The plans classes: the one place that guarantees the type of a plan's voxel shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdr_toolkit.planning.plans import ConfigurationPlan


def _record(**changes: object) -> dict:
    record = {
        "data_identifier": "gdrPlans_5mm", "spacing_mm": 5.0, "patch_size": (16, 16, 16), "batch_size": 2,
        "network": {"widths": [4, 8]}, "condition_keys": ("dose_fraction",), "noise_normalisation": True,
        "local_noise_kernel_mm": 8.0, "target_device": "cpu", "memory_budget_bytes": 0,
        "estimated_memory_bytes": 0, "median_image_shape": (32, 40, 48),
    }  # fmt: skip
    return record | changes


def test_voxel_shapes_are_tuples_of_python_ints_whatever_they_were_built_from():
    plan = ConfigurationPlan(
        **_record(patch_size=[np.int64(16), 24, 32.0], median_image_shape=np.array([9, 8, 7]))
    )
    assert plan.patch_size == (16, 24, 32) and plan.median_image_shape == (9, 8, 7)
    assert all(type(edge) is int for edge in (*plan.patch_size, *plan.median_image_shape))


def test_voxel_shapes_survive_json_as_tuples():
    record = json.loads(json.dumps(ConfigurationPlan(**_record()).to_json_dict()))
    assert isinstance(record["patch_size"], list)  # JSON has no tuples: the class restores them
    plan = ConfigurationPlan.from_json_dict(record)
    assert plan.patch_size == (16, 16, 16) and isinstance(plan.patch_size, tuple)
    assert plan.condition_keys == ("dose_fraction",)


@pytest.mark.parametrize("bad", [(16, 16), (16, 16, 16, 16), (16, 16.5, 16), (16, 0, 16), (16, "a", 16), 16])
def test_a_patch_that_is_not_three_positive_whole_numbers_is_refused(bad):
    with pytest.raises(ValueError, match="patch_size must be three positive whole numbers"):
        ConfigurationPlan(**_record(patch_size=bad))
