"""The guard on a (hand-made) preprocessed case: the map, the summary and the units of z_LD."""

from __future__ import annotations

import numpy as np
import pytest
from guard_fixtures import DOSE, SIGMA, ball, synthetic_case

from gdr_toolkit.inference.case_guard import guard_case, ld_subtraction_eq1


def test_hallucinated_ball_is_flagged_and_the_real_one_is_not():
    real, fake = ball((10, 16, 16), 4.0, 10 * SIGMA), ball((22, 16, 16), 4.0, 10 * SIGMA)
    guard = guard_case(synthetic_case(real), real + fake, 1.0, "c")
    assert guard.unsupported.dtype == np.uint8
    assert not guard.unsupported[real > 0].any()
    assert guard.unsupported[fake > 0].mean() > 0.95
    numbers = guard.summary["hallucination_guard"]
    assert numbers["unsupported_fraction"] == pytest.approx(0.5, abs=0.03)
    assert numbers["unsupported_ml"] == pytest.approx(guard.unsupported.sum() / 1000.0)
    assert numbers["dose_response"] == DOSE
    assert numbers["dose_response_source"] == "dose_fraction"
    assert guard.summary["condition"]["dose_fraction"] == DOSE
    assert guard.summary["noise_sigma_ld"] == SIGMA


def test_the_guard_judges_the_trained_dose_not_the_enhancement_factor():
    real = ball((16, 16, 16), 4.0, 10 * SIGMA)
    case = synthetic_case(real)
    plain = guard_case(case, real, 1.0, "c").unsupported
    boosted = guard_case(case, 3.0 * real, 3.0, "c").unsupported
    np.testing.assert_array_equal(plain, boosted)


def test_without_noise_normalisation_z_ld_is_brought_to_eq1_units():
    real = ball((16, 16, 16), 4.0, 10 * SIGMA)
    normalised, raw = synthetic_case(real, seed=3), synthetic_case(real, seed=3, noise_normalised=False)
    np.testing.assert_allclose(ld_subtraction_eq1(raw), ld_subtraction_eq1(normalised), atol=1e-6)


def test_without_a_dose_the_dose_response_is_estimated():
    real = ball((16, 16, 16), 5.0, 20 * SIGMA)
    guard = guard_case(synthetic_case(real, dose=None), real, 1.0, "c")
    numbers = guard.summary["hallucination_guard"]
    assert numbers["dose_response_source"] == "estimated"
    assert 0.15 < numbers["dose_response"] < 0.35  # the LD carries 0.3 x; smoothing lowers O/E at the rim
    assert not guard.unsupported.any()
