"""Case metrics with a valid-data mask: what lies outside the scans' field of view is not an error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from evaluation_data import make_case

from gdr_toolkit.evaluation.case_evaluation import MetricOptions, build_frame, evaluate_image

OPTIONS = MetricOptions(align_acquired_scans=False)  # the reference stays in x_PC's units: exact stays exact


def _cropped_case() -> tuple[dict[str, np.ndarray], np.ndarray]:
    case = make_case(np.random.default_rng(0))
    valid = np.ones(case["brain"].shape, bool)
    valid[15:] = False  # the top quarter of the volume: LD had no data there
    return case, valid


def test_prediction_exact_inside_the_valid_region_scores_perfectly():
    case, valid = _cropped_case()
    reference = case["standard_dose"].astype(np.float64)
    prediction = np.where(valid, reference, 0.0)  # a hole (or any garbage) outside
    frame = build_frame(reference, case["pre_contrast"], case["brain"], OPTIONS, valid)
    result = evaluate_image(prediction, frame, case["labels"], OPTIONS)
    assert math.isinf(result.psnr_i) and math.isinf(result.psnr_b)
    assert result.ssim == pytest.approx(1.0, abs=1e-12) and result.mae_ce == 0.0
    assert [lesion.label for lesion in result.lesions] == [1, 2]
    for lesion in result.lesions:
        assert math.isinf(lesion.psnr_l) and lesion.c_bar == pytest.approx(1.0) and lesion.c_hat == 1.0
    assert frame.excluded_brain_voxels == int((case["brain"].astype(bool) & ~valid).sum())


def test_without_the_mask_the_missing_region_counts_as_error():
    case, valid = _cropped_case()
    reference = case["standard_dose"].astype(np.float64)
    frame = build_frame(reference, case["pre_contrast"], case["brain"], OPTIONS)
    result = evaluate_image(np.where(valid, reference, 0.0), frame, case["labels"], OPTIONS)
    assert result.psnr_b < 20.0 and result.ssim < 0.95


def test_lesion_outside_the_valid_region_is_left_out():
    case, valid = _cropped_case()
    valid[:10] = False  # lesion 1 (z 6-8) now lies outside too; lesion 2 (z 11-13) inside
    reference = case["standard_dose"].astype(np.float64)
    frame = build_frame(reference, case["pre_contrast"], case["brain"], OPTIONS, valid)
    result = evaluate_image(reference, frame, case["labels"], OPTIONS)
    assert [lesion.label for lesion in result.lesions] == [2]


def test_valid_mask_of_another_shape_is_refused():
    case, _ = _cropped_case()
    with pytest.raises(ValueError, match="valid_mask must have"):
        build_frame(case["standard_dose"], case["pre_contrast"], case["brain"], OPTIONS, np.ones((2, 2, 2)))


def test_lesion_cnr_recovers_the_injected_enhancement_over_the_injected_noise():
    rng = np.random.default_rng(5)
    shape, noise_std, enhancement = (40, 40, 40), 2.0, 5.0
    pre_contrast = np.full(shape, 100.0)
    brain = np.zeros(shape, bool)
    brain[4:36, 4:36, 4:36] = True
    labels = np.zeros(shape, np.int16)
    labels[10:16, 10:16, 10:16] = 1
    reference = pre_contrast + rng.normal(0.0, noise_std, shape) + enhancement * (labels == 1)
    options = MetricOptions(align_acquired_scans=False, normalisation_percentile=50.0)
    frame = build_frame(reference, pre_contrast, brain, options)
    (lesion,) = evaluate_image(pre_contrast, frame, labels, options).lesions
    # normalisation divides both the enhancement and sigma_SD by s: the ratio is in raw units
    assert lesion.cnr == pytest.approx(enhancement / noise_std, rel=0.08)
    assert lesion.c_bar == pytest.approx(0.0, abs=1e-12)
