"""Simulated guard cases: the truth they claim is what the arrays hold."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.simulation.guard_scenarios import GuardScenario, score_guard, simulate_guard_case

QUIET = GuardScenario(
    noise_sigma=1e-4, misregistration_voxels=0.0, offset_sigmas=0.0, real_radii_mm=(4.0, 6.0),
    hallucination_radii_mm=(3.0,), dose=0.2,
)  # fmt: skip


def test_the_low_dose_carries_dose_times_the_real_lesions_and_nothing_of_the_hallucination():
    simulated = simulate_guard_case(QUIET, 0)
    arrays = simulated.case.arrays
    subtraction = arrays["x_ld"].astype(np.float64) - arrays["x_pc"]
    real = simulated.real
    hallucination = simulated.hallucinations[0]
    assert subtraction[real].sum() == pytest.approx(0.2 * simulated.prediction[real].sum(), rel=0.01)
    assert np.abs(subtraction[hallucination]).max() < 1e-3
    assert simulated.prediction[hallucination].max() == pytest.approx(10 * 1e-4)
    assert simulated.case.properties.condition["dose_fraction"] == 0.2


def test_skull_stripped_and_cropped_variants():
    simulated = simulate_guard_case(GuardScenario(skull_stripped=True, cropped=True, real_radii_mm=(2.0,)), 1)
    arrays = simulated.case.arrays
    outside = arrays["brain_mask"] == 0
    assert (arrays["x_pc"][outside] == 0).all()  # zero background, brain mask larger than the brain
    assert (arrays["x_pc"][arrays["brain_mask"] > 0] == 0).any()
    valid = arrays["valid_mask"] > 0
    assert valid[:33].all() and not valid[34:].any()  # the LD covers 70 % of 48 slices
    np.testing.assert_array_equal(arrays["x_ld"][~valid], arrays["x_pc"][~valid])  # the pipeline's fill


def test_score_counts_flags_on_hallucinations_and_false_regions():
    simulated = simulate_guard_case(QUIET, 2)
    states = np.zeros(simulated.real.shape, dtype=np.uint8)
    states[simulated.real] = 2  # every real lesion flagged: two false regions
    states[simulated.hallucinations[0]] = 1  # the hallucination judged, not flagged
    score = score_guard(states, simulated)
    assert (score.false_regions, score.hallucinations, score.flagged, score.judged) == (2, 1, 0, 1)
