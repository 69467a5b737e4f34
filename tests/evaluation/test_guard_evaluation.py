"""The guard measured against the true SD: flagged volume that truly enhances, precision and recall."""

from __future__ import annotations

import math

import numpy as np
import pytest
from evaluation_data import SHAPE, write

from gdr_toolkit.evaluation import FolderEvaluationOptions, evaluate_predictions
from gdr_toolkit.evaluation.case_evaluation import build_frame
from gdr_toolkit.evaluation.guard_evaluation import GuardMetrics, evaluate_guard, guard_json


def _case():
    """x_PC, x_SD with a real lesion, a prediction with the lesion and a hallucinated block, the masks."""
    rng = np.random.default_rng(0)
    brain = np.zeros(SHAPE, dtype=bool)
    brain[2:18, 2:20, 2:22] = True
    real = np.zeros(SHAPE, dtype=bool)
    real[4:8, 4:8, 4:8] = True  # 64 voxels
    fake = np.zeros(SHAPE, dtype=bool)
    fake[12:16, 12:16, 12:16] = True  # 64 voxels
    pre_contrast = np.where(brain, 100.0, 20.0) + rng.normal(0, 1.0, SHAPE)
    reference = pre_contrast + 50.0 * real + rng.normal(0, 1.0, SHAPE) * ~fake  # no enhancement there
    prediction = pre_contrast + 50.0 * real + 50.0 * fake
    return pre_contrast, reference, prediction, brain, real, fake


def test_flags_on_hallucinated_and_real_enhancement_are_counted_apart():
    pre_contrast, reference, prediction, brain, real, fake = _case()
    frame = build_frame(reference, pre_contrast, brain)
    flagged = fake.copy()
    flagged[12:14, 12:16, 12:16] = False  # half the hallucination is flagged (32 voxels)
    flagged[4:5, 4:8, 4:8] = True  # and 16 voxels of the real lesion
    metrics = evaluate_guard(flagged.astype(np.uint8), prediction, frame, voxel_volume_ml=0.008)
    assert metrics.flagged_ml == pytest.approx(48 * 0.008)
    assert metrics.flagged_real_fraction == pytest.approx(16 / 48)
    assert metrics.precision == pytest.approx(32 / 48)
    assert metrics.hallucinated_ml == pytest.approx(64 * 0.008)
    assert metrics.recall == pytest.approx(0.5)


def test_no_flags_leave_precision_undefined_and_pooling_sums_volumes():
    empty = GuardMetrics(0.0, 0.0, 1.0, 0.0)
    assert math.isnan(empty.precision) and empty.recall == 0.0
    record = guard_json({"a": empty, "b": GuardMetrics(2.0, 0.5, 2.0, 1.5)})
    assert record["cases"]["a"]["precision"] is None
    assert record["pooled"]["flagged_real_fraction"] == pytest.approx(0.25)
    assert record["pooled"]["recall"] == pytest.approx(0.5) and record["pooled"]["n_cases"] == 2


def test_gdr_evaluate_reports_the_guard_of_cases_with_a_guard_map(evaluation_folders):
    prediction_folder = evaluation_folders["pred"]
    flagged = np.zeros(SHAPE, dtype=np.uint8)
    flagged[6:9, 6:9, 6:9] = 1  # exactly lesion 1 of the phantom: real enhancement
    write(flagged, prediction_folder / "case_a_unsupported.nii.gz")
    summary = evaluate_predictions(
        evaluation_folders["targets"], prediction_folder, evaluation_folders["images"],
        brain_mask_folder=evaluation_folders["brain"], options=FolderEvaluationOptions(),
    )  # fmt: skip
    assert set(summary.guard) == {"case_a"}
    assert summary.guard["case_a"].flagged_ml == pytest.approx(27 * 0.008)
    assert summary.guard["case_a"].flagged_real_fraction == pytest.approx(1.0)
    assert summary.to_json_dict()["hallucination_guard"]["pooled"]["precision"] == pytest.approx(0.0)
