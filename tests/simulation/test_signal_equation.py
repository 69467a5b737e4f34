"""Physics of the signal model: T1 shortening, SPGR signal, enhancement versus dose and field."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.simulation.object_model import tissue_signal
from gdr_toolkit.simulation.signal_equation import SPGR_PRESETS, SequencePreset, spgr_signal, t1_with_agent

# TR 10 ms, TE 0 (no T2* decay), flip angle 20 degrees: numbers below are computed by hand from
# S = sin(a) (1 - E1) / (1 - cos(a) E1), E1 = exp(-TR/T1), 1/T1 = 1/T1_0 + r1 C.
HAND_PRESET = SequencePreset("hand", 3.0, 10.0, 0.0, 20.0)


def test_t1_with_agent_units_ms_and_l_per_mmol_s():
    # 1/T1 = 1/1 s + 4 L/(mmol s) * 0.25 mmol/L = 2 /s -> 500 ms
    assert t1_with_agent(1000.0, 0.25, 4.0) == pytest.approx(500.0)


def test_spgr_signal_matches_hand_computation():
    assert spgr_signal(1.0, 884.0, HAND_PRESET) == pytest.approx(0.0542796, rel=1e-5)
    assert spgr_signal(1.0, 1084.0, HAND_PRESET) == pytest.approx(0.0455589, rel=1e-5)


@pytest.mark.parametrize("preset", SPGR_PRESETS, ids=lambda preset: preset.name)
def test_enhancement_grows_monotonically_and_sublinearly_with_concentration(preset):
    concentrations = np.linspace(0.0, 2.0, 41)
    signal = tissue_signal("white_matter", preset.field_strength_t, preset, concentrations, 4.5)
    enhancement = signal - signal[0]
    assert np.all(np.diff(enhancement) > 0)
    assert np.all(np.diff(enhancement, n=2) < 0)  # concave: sub-linear in dose


def test_enhancement_at_equal_concentration_differs_between_fields_as_predicted():
    # white matter, 0.5 mmol/L gadobutrol: 1.5 T: T1_0 884 ms, r1 4.6 -> T1 291.44 ms;
    # 3 T: T1_0 1084 ms, r1 4.5 -> T1 315.21 ms (hand computed).
    assert t1_with_agent(884.0, 0.5, 4.6) == pytest.approx(291.441, rel=1e-5)
    assert t1_with_agent(1084.0, 0.5, 4.5) == pytest.approx(315.208, rel=1e-5)
    expected = {1.5: (0.0542796, 0.1253912, 4.6), 3.0: (0.0455589, 0.1191317, 4.5)}
    relative = {}
    for field, (native, enhanced, relaxivity) in expected.items():
        proton_density = 0.69  # white matter; T2* plays no role at TE = 0
        pre = tissue_signal("white_matter", field, HAND_PRESET)
        post = tissue_signal("white_matter", field, HAND_PRESET, 0.5, relaxivity)
        assert pre == pytest.approx(proton_density * native, rel=1e-5)
        assert post == pytest.approx(proton_density * enhanced, rel=1e-5)
        relative[field] = post / pre - 1.0
    assert relative[1.5] == pytest.approx(1.31010, rel=1e-4)
    assert relative[3.0] == pytest.approx(1.61490, rel=1e-4)


def test_t1_weighting_of_presets_orders_white_grey_csf():
    for preset in SPGR_PRESETS:
        signals = [
            tissue_signal(name, preset.field_strength_t, preset)
            for name in ("white_matter", "grey_matter", "csf")
        ]
        assert signals[0] > signals[1] > signals[2], preset.name
