"""benchmarks/lesion_recovery.py: per-lesion rows across image sets and c_bar by visibility and size."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "lesion_recovery.py"
THRESHOLDS = {"cnr": 3, "ld_cnr": 1.5, "voxels": 46}


@pytest.fixture(scope="module")
def lesion_recovery():
    specification = importlib.util.spec_from_file_location("lesion_recovery_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(specification)
    sys.modules["lesion_recovery_benchmark"] = module
    specification.loader.exec_module(module)
    return module


def _summary() -> dict:
    def method(c_bars):
        lesions = [(5, 0.8), (200, 6.0), (12, None)]  # (voxels, cnr)
        cases = {"a": {"lesions": {}}, "b": {"lesions": {}}}
        for index, ((voxels, cnr), c_bar) in enumerate(zip(lesions, c_bars, strict=True)):
            case = "a" if index < 2 else "b"
            cases[case]["lesions"][str(index + 1)] = {"voxels": voxels, "cnr": cnr, "c_bar": c_bar}
        return {"cases": cases}

    return {"methods": {"sd": method([0.1, 0.9, 0.5]), "low_dose": method([0.0, 0.3, None])}}


def test_rows_join_the_image_sets_per_lesion(lesion_recovery):
    rows = lesion_recovery.lesion_rows(_summary())
    assert [(row["case"], row["label"]) for row in rows] == [("a", "1"), ("a", "2"), ("b", "3")]
    assert rows[1] == {
        "case": "a", "label": "2", "voxels": 200, "cnr": 6.0, "sd": 0.9, "low_dose": 0.3, "ld_cnr": pytest.approx(1.8)
    }  # fmt: skip
    assert rows[2]["ld_cnr"] is None  # no cnr, no low-dose value


def test_groups_split_by_visibility_and_size_with_finite_values_only(lesion_recovery):
    rows = lesion_recovery.lesion_rows(_summary())
    groups = {
        name: (count, means)
        for name, count, means in lesion_recovery.group_means(rows, ["sd", "low_dose"], THRESHOLDS)
    }
    assert groups["all"][0] == 3 and groups["all"][1]["sd"] == pytest.approx(0.5)
    assert groups["all"][1]["low_dose"] == pytest.approx(0.15)  # the lesion without a value is left out
    assert groups["cnr < 3"] == (1, {"sd": 0.1, "low_dose": 0.0})
    assert groups["cnr >= 3"] == (1, {"sd": 0.9, "low_dose": 0.3})
    assert groups["voxels < 46"][0] == 2 and groups["voxels < 46"][1]["sd"] == pytest.approx(0.3)
    assert groups["voxels >= 46"][1]["sd"] == 0.9
    assert groups["ld_cnr < 1.5"] == (1, {"sd": 0.1, "low_dose": 0.0})  # 0.8 x 0.0
    assert groups["ld_cnr >= 1.5"][0] == 1  # 6.0 x 0.3 = 1.8
    empty = lesion_recovery.group_means([], ["sd"], THRESHOLDS)[0]
    assert empty[1] == 0 and math.isnan(empty[2]["sd"])
