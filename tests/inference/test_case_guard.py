"""The guard on a (hand-made) preprocessed case: the three-state map, the summary and the raw subtraction."""

from __future__ import annotations

import numpy as np
import pytest
from guard_fixtures import DOSE, SIGMA, ball, synthetic_case

from gdr_toolkit.inference.case_guard import guard_case, raw_ld_subtraction
from gdr_toolkit.inference.hallucination_guard import NOT_JUDGED, SUPPORTED, UNSUPPORTED


def test_hallucinated_ball_is_unsupported_and_the_real_one_supported():
    real, fake = ball((10, 16, 16), 4.0, 10 * SIGMA), ball((22, 16, 16), 4.0, 10 * SIGMA)
    guard = guard_case(synthetic_case(real), real + fake, 1.0, "c")
    assert guard.states.dtype == np.uint8
    assert set(np.unique(guard.states[real > 0])) == {SUPPORTED}
    assert set(np.unique(guard.states[fake > 0])) == {UNSUPPORTED}
    assert not guard.states[(real + fake) == 0].any()
    numbers = guard.summary["hallucination_guard"]
    assert numbers["status"] == "assessed"
    assert (numbers["predicted_regions"], numbers["judged_regions"], numbers["unsupported_regions"]) == (
        2,
        2,
        1,
    )
    assert numbers["unsupported_fraction"] == pytest.approx(0.5, abs=0.01)
    assert numbers["unsupported_ml"] == pytest.approx((guard.states == UNSUPPORTED).sum() / 1000.0)
    assert numbers["regions"][0]["state"] == "unsupported" and numbers["regions"][0]["p_value"] < 1e-6
    assert numbers["dose_response"] == DOSE and numbers["dose_response_source"] == "dose_fraction"
    assert numbers["noise_sigma"] == pytest.approx(SIGMA, rel=0.05)
    assert guard.summary["format_version"] == 2 and guard.summary["noise_sigma_ld"] == SIGMA


def test_the_guard_judges_the_trained_dose_not_the_enhancement_factor():
    real = ball((16, 16, 16), 4.0, 10 * SIGMA)
    case = synthetic_case(real)
    plain = guard_case(case, real, 1.0, "c").states
    boosted = guard_case(case, 3.0 * real, 3.0, "c").states
    np.testing.assert_array_equal(plain, boosted)


def test_the_guard_reads_the_raw_subtraction_not_eq1():
    """z~_LD = x_LD - x_PC; the stored eq. 1 output z_ld is not used."""
    real = ball((16, 16, 16), 4.0, 10 * SIGMA)
    case = synthetic_case(real, seed=3)
    subtraction, data = raw_ld_subtraction(case)
    np.testing.assert_allclose(subtraction, case.arrays["x_ld"] - case.arrays["x_pc"].astype(np.float64))
    assert data.all()
    case.arrays["z_ld"][:] = 0.0
    assert (guard_case(case, real, 1.0, "c").states[real > 0] == SUPPORTED).all()


def test_without_a_dose_the_dose_response_is_estimated():
    real = ball((16, 16, 16), 5.0, 20 * SIGMA)
    guard = guard_case(synthetic_case(real, dose=None), real, 1.0, "c")
    numbers = guard.summary["hallucination_guard"]
    assert numbers["dose_response_source"] == "estimated"
    assert numbers["dose_response"] == pytest.approx(0.3, abs=0.03)  # the LD carries 0.3 x
    assert numbers["dose_response_lower_bound"] == pytest.approx(0.5 * numbers["dose_response"])
    assert (guard.states[real > 0] == SUPPORTED).all()


def test_enhancement_outside_the_low_doses_data_is_not_judged():
    fake = ball((8, 16, 16), 4.0, 10 * SIGMA)
    case = synthetic_case(np.zeros_like(fake))
    case.arrays["valid_mask"] = np.zeros_like(case.arrays["brain_mask"])
    case.arrays["valid_mask"][16:] = 1
    case.arrays["x_ld"][:16] = case.arrays["x_pc"][:16]  # the pipeline's fill outside valid data
    guard = guard_case(case, fake, 1.0, "c")
    assert (guard.states[fake > 0] == NOT_JUDGED).all()
    numbers = guard.summary["hallucination_guard"]
    assert numbers["status"] == "nothing_assessable" and "nothing assessable" in numbers["status_text"]


def test_skull_stripped_zeros_do_not_enter_the_noise_estimate():
    """Half the brain mask is zero background in both scans: sigma and correlation come from the rest."""
    fake = ball((22, 16, 16), 4.0, 10 * SIGMA)
    case = synthetic_case(np.zeros_like(fake))
    for name in ("x_pc", "x_ld"):
        case.arrays[name][:, :, :10] = 0.0
    numbers = guard_case(case, fake, 1.0, "c").summary["hallucination_guard"]
    assert numbers["noise_sigma"] == pytest.approx(SIGMA, rel=0.05)
    assert max(numbers["lag1_correlation"]) < 0.05
    assert numbers["noise_voxels"] <= 22 * 32 * 32
    assert numbers["unsupported_regions"] == 1


def test_a_case_with_too_little_data_is_reported_as_not_assessable():
    fake = ball((16, 16, 16), 4.0, 10 * SIGMA)
    case = synthetic_case(np.zeros_like(fake))
    case.arrays["valid_mask"] = np.zeros_like(case.arrays["brain_mask"])
    case.arrays["valid_mask"][10:22, 10:22, 10:22] = 1
    guard = guard_case(case, fake, 1.0, "c")
    numbers = guard.summary["hallucination_guard"]
    assert numbers["status"] == "not_assessable" and "noise voxels" in numbers["status_text"]
    assert not guard.states.any() and numbers["predicted_regions"] == 1
