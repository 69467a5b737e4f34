"""The dose-response model against the signal equation it inverts."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.simulation.dose_response import SignalModel, scale_enhancement
from gdr_toolkit.simulation.signal_equation import SequencePreset, spgr_signal, t1_with_agent

PRESET = SequencePreset("test", 3.0, 7.6, 3.0, 12.0)
MODEL = SignalModel(native_t1_ms=1500.0, repetition_time_ms=7.6, flip_angle_deg=12.0)


@pytest.mark.parametrize("dose", [0.1, 0.25, 0.33, 0.5])
def test_spgr_model_recovers_the_low_dose_signal_of_a_known_concentration(dose):
    concentrations = np.array([0.05, 0.2, 0.5, 1.0, 2.0])  # mmol/L at standard dose
    relaxivity = 4.5
    proton_density = np.array([0.7, 0.8, 0.9, 1.0, 0.75])
    pre = spgr_signal(proton_density, t1_with_agent(1500.0, 0.0, relaxivity), PRESET)
    standard = spgr_signal(proton_density, t1_with_agent(1500.0, concentrations, relaxivity), PRESET)
    low = spgr_signal(proton_density, t1_with_agent(1500.0, dose * concentrations, relaxivity), PRESET)
    scaled = scale_enhancement(pre * 1000, (standard - pre) * 1000, dose, MODEL)
    np.testing.assert_allclose(scaled, (low - pre) * 1000, rtol=1e-4)
    # the signal is concave in the dose: a linear scaling would underestimate the low-dose enhancement
    assert np.all(dose * (standard - pre) < 0.98 * (low - pre))


def test_linear_model_scales_by_the_dose():
    pre = np.array([100.0, 200.0, 300.0])
    enhancement = np.array([0.0, 50.0, 400.0])
    scaled = scale_enhancement(pre, enhancement, 0.25, SignalModel(kind="linear"))
    np.testing.assert_allclose(scaled, [0.0, 12.5, 100.0])


def test_dark_pre_contrast_falls_back_to_linear_and_saturation_stays_finite():
    pre = np.array([0.0, 1000.0, 1000.0])
    enhancement = np.array([500.0, 1e6, 0.0])
    scaled = scale_enhancement(pre, enhancement, 0.33, MODEL)
    assert scaled[0] == pytest.approx(165.0)
    assert np.isfinite(scaled).all() and scaled[2] == 0.0


def test_model_rejects_impossible_settings():
    with pytest.raises(ValueError, match="flip_angle_deg"):
        SignalModel(flip_angle_deg=95.0)
    with pytest.raises(ValueError, match="kind"):
        SignalModel(kind="cubic")  # type: ignore[arg-type]
