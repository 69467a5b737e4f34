"""The guard measured against the true SD: regions judged, flagged, truly hallucinated; intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from evaluation_data import SHAPE, write

from gdr_toolkit.evaluation import FolderEvaluationOptions, evaluate_predictions
from gdr_toolkit.evaluation.case_evaluation import build_frame
from gdr_toolkit.evaluation.guard_evaluation import (
    GuardMetrics,
    bootstrap_intervals,
    evaluate_guard,
    guard_json,
    guard_text,
)


def _case():
    """x_PC, x_SD with a real lesion, a prediction with the lesion and two hallucinated blocks, the masks."""
    rng = np.random.default_rng(0)
    brain = np.zeros(SHAPE, dtype=bool)
    brain[2:18, 2:20, 2:22] = True
    real = np.zeros(SHAPE, dtype=bool)
    real[4:8, 4:8, 4:8] = True
    fake = np.zeros(SHAPE, dtype=bool)
    fake[12:16, 12:16, 12:16] = True
    other = np.zeros(SHAPE, dtype=bool)
    other[4:7, 14:17, 16:19] = True
    pre_contrast = np.where(brain, 100.0, 20.0) + rng.normal(0, 1.0, SHAPE)
    reference = pre_contrast + 50.0 * real + rng.normal(0, 1.0, SHAPE) * ~(fake | other)
    prediction = pre_contrast + 50.0 * (real | fake | other)
    return build_frame(reference, pre_contrast, brain), prediction, real, fake, other


def test_regions_are_scored_against_the_truly_hallucinated_set():
    frame, prediction, real, fake, other = _case()
    states = np.zeros(SHAPE, dtype=np.uint8)
    states[real] = 2  # a real lesion flagged: a false region
    states[fake] = 2  # a hallucination flagged: a true positive
    states[other] = 1  # a hallucination judged supported: missed
    metrics = evaluate_guard(states, prediction, frame, voxel_volume_ml=0.008)
    assert (metrics.judged_regions, metrics.flagged_regions) == (3, 2)
    assert (metrics.flagged_hallucinated_regions, metrics.flagged_real_regions) == (1, 1)
    assert metrics.hallucinated_judged_regions == 2
    assert metrics.precision == pytest.approx(0.5) and metrics.recall == pytest.approx(0.5)
    assert metrics.flagged_ml == pytest.approx(128 * 0.008)
    assert metrics.flagged_real_ml == pytest.approx(64 * 0.008)
    assert metrics.hallucinated_ml == pytest.approx((64 + 27) * 0.008)


def test_a_flagged_region_at_a_real_lesions_rim_counts_as_real():
    """One voxel of misregistration: the flagged region lies in the CE mask dilated by one voxel."""
    frame, prediction, real, _, _ = _case()
    states = np.zeros(SHAPE, dtype=np.uint8)
    states[5:9, 5:9, 5:9] = 2
    metrics = evaluate_guard(states, prediction, frame, voxel_volume_ml=0.008)
    assert metrics.flagged_real_regions == 1 and metrics.flagged_hallucinated_regions == 0


def test_nothing_judged_is_not_assessed_and_leaves_the_ratios_undefined():
    frame, prediction, *_ = _case()
    metrics = evaluate_guard(np.zeros(SHAPE, dtype=np.uint8), prediction, frame, voxel_volume_ml=0.008)
    assert not metrics.assessed
    assert math.isnan(metrics.precision) and math.isnan(metrics.recall)
    record = guard_json({"a": metrics})
    assert record["cases"]["a"]["precision"] is None and record["pooled"]["n_assessed"] == 0
    assert "nothing assessable" in guard_text(record["pooled"])


def test_judged_without_flags_says_nothing_flagged():
    record = guard_json({"a": GuardMetrics(3, 0, 0, 1, 0.0, 0.0, 0.1)})
    text = guard_text(record["pooled"])
    assert "nothing flagged" in text and "nothing assessable" not in text


def test_pooling_sums_counts_and_the_bootstrap_interval_covers_the_truth():
    """Cases with 2 flags of which 1 hallucinated (precision 0.5) or 2 of 2 (1.0), mixed 1:1: pooled 0.75."""
    half, full = GuardMetrics(4, 2, 1, 2, 0.2, 0.1, 0.3), GuardMetrics(4, 2, 2, 2, 0.2, 0.0, 0.3)
    cases = {f"c{index}": half if index % 2 else full for index in range(20)}
    pooled = guard_json(cases)["pooled"]
    assert pooled["precision"] == pytest.approx(0.75)
    assert pooled["false_regions_per_case"] == pytest.approx(0.5)
    low, high = pooled["intervals_95"]["precision"]
    assert low < 0.75 < high and high - low < 0.3
    assert pooled["intervals_95"]["recall"][0] <= 0.75 <= pooled["intervals_95"]["recall"][1]


def test_bootstrap_interval_is_undefined_without_flags():
    counts = np.array([[3, 0, 0, 1]] * 5, dtype=float)
    intervals = bootstrap_intervals(counts)
    assert intervals["precision"] is None
    assert intervals["false_regions_per_case"] == [0.0, 0.0]


def test_gdr_evaluate_reports_the_guard_of_cases_with_a_guard_map(evaluation_folders):
    prediction_folder = evaluation_folders["pred"]
    flagged = np.zeros(SHAPE, dtype=np.uint8)
    flagged[6:9, 6:9, 6:9] = 2  # exactly lesion 1 of the phantom: real enhancement flagged
    write(flagged, prediction_folder / "case_a_unsupported.nii.gz")
    summary = evaluate_predictions(
        evaluation_folders["targets"], prediction_folder, evaluation_folders["images"],
        brain_mask_folder=evaluation_folders["brain"], options=FolderEvaluationOptions(),
    )  # fmt: skip
    assert set(summary.guard) == {"case_a"}
    assert summary.guard["case_a"].flagged_ml == pytest.approx(27 * 0.008)
    assert summary.guard["case_a"].flagged_real_regions == 1
    pooled = summary.to_json_dict()["hallucination_guard"]["pooled"]
    assert pooled["precision"] == pytest.approx(0.0) and pooled["false_regions_per_case"] == pytest.approx(
        1.0
    )
