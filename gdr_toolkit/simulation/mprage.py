"""MPRAGE / 3D TurboFLASH signal: an inversion pulse, a delay, a train of small-angle excitations, a delay.

Closed-form steady state of the longitudinal magnetisation (per unit M0), the recursion solved as in
Deichmann et al., "Optimization of 3-D MP-RAGE sequences for structural brain imaging", NeuroImage
2000;12:112-127 (appendix), and Marques et al., "MP2RAGE", NeuroImage 2010;49:1271-1281 (appendix).
One cycle of length TR (the inversion repetition time) is:

    inversion (Mz -> -eff * Mz) | TA | n excitations a, spaced tau | TD | next inversion

with TA = TI - c * tau (c = n // 2, the central excitation, linear k-space order) and
TD = TR - TA - n * tau. With E = exp(-tau/T1), beta = cos(a) E, E_A = exp(-TA/T1), E_D = exp(-TD/T1):

    M_train = (1 - E) / (1 - beta)                                   steady state within the train
    M_ss = [(1 - E_D) + E_D (M_train (1 - beta^n) + beta^n (1 - E_A))] / (1 + eff E_D beta^n E_A)
                                                                      Mz before each inversion
    M_A = 1 - (1 + eff M_ss) E_A                                      Mz at the start of the train
    M_c = M_train + (M_A - M_train) beta^c                            Mz before the central excitation
    S = M0 sin(a) |M_c| exp(-TE / T2*)                                magnitude image

For n = 1, a = 90 deg and eff = 1 this is the textbook inversion recovery
S = |1 - 2 exp(-TI/T1) + exp(-TR/T1)| (tested).
"""

from __future__ import annotations

import numpy as np

from gdr_toolkit.simulation.signal_equation import SequencePreset


def _timing_ms(preset: SequencePreset) -> tuple[float, int, int, float, float]:
    """(echo spacing, train length, central excitation, TA, TD) of an MPRAGE preset, in ms."""
    if (
        preset.kind != "mprage"
        or preset.inversion_time_ms is None
        or preset.echo_spacing_ms is None
        or preset.excitations_per_inversion is None
    ):
        raise ValueError(
            f"Preset {preset.name!r} is not a complete MPRAGE preset (kind 'mprage' with inversion time, "
            "echo spacing and excitations per inversion)."
        )
    count = int(preset.excitations_per_inversion)
    centre = count // 2
    before = preset.inversion_time_ms - centre * preset.echo_spacing_ms
    after = preset.repetition_time_ms - before - count * preset.echo_spacing_ms
    if before < 0 or after < 0:
        raise ValueError(
            f"Preset {preset.name!r}: TI {preset.inversion_time_ms} ms and TR {preset.repetition_time_ms} ms do "
            f"not fit a train of {count} excitations spaced {preset.echo_spacing_ms} ms (delays {before:.1f} "
            f"and {after:.1f} ms must be >= 0)."
        )
    return preset.echo_spacing_ms, count, centre, before, after


def mprage_signal(
    proton_density: float | np.ndarray,
    t1_ms: float | np.ndarray,
    preset: SequencePreset,
    t2_star_ms: float | np.ndarray = np.inf,
) -> np.ndarray:
    """Steady-state MPRAGE magnitude signal at the centre of k-space (arbitrary units, proportional to M0).

    Args:
        proton_density: M0 (relative proton density), scalar or array.
        t1_ms: T1 in ms (> 0), broadcastable.
        preset: an MPRAGE preset (TR between inversions, TI, echo spacing, train length, flip angle, TE).
        t2_star_ms: T2* in ms (> 0); ``inf`` ignores T2* decay.

    Returns:
        The signal S (see the module docstring), float64, broadcast shape of the inputs.
    """
    spacing, count, centre, before, after = _timing_ms(preset)
    angle = np.deg2rad(preset.flip_angle_deg)
    efficiency = preset.inversion_efficiency
    with np.errstate(all="raise", under="ignore"):
        t1 = np.asarray(t1_ms, dtype=np.float64)
        recovery = np.exp(-spacing / t1)
        beta = np.cos(angle) * recovery
        beta_train = beta**count
        train = (1.0 - recovery) / (1.0 - beta)
        e_before, e_after = np.exp(-before / t1), np.exp(-after / t1)
        steady = (
            (1.0 - e_after) + e_after * (train * (1.0 - beta_train) + beta_train * (1.0 - e_before))
        ) / (1.0 + efficiency * e_after * beta_train * e_before)
        start = 1.0 - (1.0 + efficiency * steady) * e_before
        central = train + (start - train) * beta**centre
        t2_decay = np.exp(-preset.echo_time_ms / np.asarray(t2_star_ms, dtype=np.float64))
        return proton_density * np.sin(angle) * np.abs(central) * t2_decay
