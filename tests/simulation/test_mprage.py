"""MPRAGE signal: closed form against a hand computation and a Bloch recursion, T1 weighting, Gd uptake."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdr_toolkit.simulation.mprage import mprage_signal
from gdr_toolkit.simulation.object_model import tissue_signal
from gdr_toolkit.simulation.signal_equation import MPRAGE_PRESETS, SequencePreset

MPRAGE_3T = next(preset for preset in MPRAGE_PRESETS if preset.field_strength_t == 3.0)


def _bloch_recursion(t1_ms: float, preset: SequencePreset, cycles: int = 30) -> float:
    """Mz before the central excitation, by stepping through many cycles (no closed form)."""
    spacing, count = preset.echo_spacing_ms, preset.excitations_per_inversion
    centre = count // 2
    before = preset.inversion_time_ms - centre * spacing
    after = preset.repetition_time_ms - before - count * spacing
    angle = math.radians(preset.flip_angle_deg)

    def relax(mz: float, time_ms: float) -> float:
        return 1.0 - (1.0 - mz) * math.exp(-time_ms / t1_ms)

    mz, central = 1.0, 0.0
    for _ in range(cycles):
        mz = relax(-preset.inversion_efficiency * mz, before)
        for excitation in range(count):
            if excitation == centre:
                central = mz
            mz = relax(mz * math.cos(angle), spacing)
        mz = relax(mz, after)
    return central


def test_mprage_reduces_to_textbook_inversion_recovery():
    # one 90 degree excitation per perfect inversion: S = |1 - 2 exp(-TI/T1) + exp(-TR/T1)|;
    # T1 1000 ms, TI 500 ms, TR 2000 ms: |1 - 2 * 0.6065307 + 0.1353353| = 0.0777261 (by hand)
    preset = SequencePreset("ir", 3.0, 2000.0, 0.0, 90.0, "mprage", 500.0, 10.0, 1, 1.0)
    assert mprage_signal(1.0, 1000.0, preset) == pytest.approx(0.0777261, rel=1e-5)


@pytest.mark.parametrize("preset", MPRAGE_PRESETS, ids=lambda preset: preset.name)
@pytest.mark.parametrize("t1_ms", [300.0, 1084.0, 1820.0, 4300.0])
def test_mprage_closed_form_matches_the_bloch_recursion(preset, t1_ms):
    expected = abs(_bloch_recursion(t1_ms, preset)) * math.sin(math.radians(preset.flip_angle_deg))
    assert mprage_signal(1.0, t1_ms, preset) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("preset", MPRAGE_PRESETS, ids=lambda preset: preset.name)
def test_mprage_orders_white_grey_csf(preset):
    signals = [
        tissue_signal(name, preset.field_strength_t, preset)
        for name in ("white_matter", "grey_matter", "csf")
    ]
    assert signals[0] > signals[1] > signals[2]


@pytest.mark.parametrize("tissue", ["white_matter", "grey_matter", "lesion", "blood"])
def test_mprage_signal_grows_monotonically_with_gadolinium(tissue):
    concentrations = np.linspace(0.0, 2.0, 81)
    signal = tissue_signal(tissue, 3.0, MPRAGE_3T, concentrations, 4.5)
    assert np.all(np.diff(signal) > 0)


def test_mprage_refuses_a_train_that_does_not_fit_the_repetition_time():
    preset = SequencePreset("bad", 3.0, 1000.0, 3.0, 9.0, "mprage", 900.0, 7.0, 192)
    with pytest.raises(ValueError, match="do not fit"):
        mprage_signal(1.0, 1000.0, preset)
