"""Spoiled gradient echo (SPGR/FLASH) signal and T1 shortening by a gadolinium agent (method.md s. 7).

Steady-state signal of a spoiled gradient echo::

    S = M0 * sin(a) * (1 - E1) / (1 - cos(a) * E1) * exp(-TE / T2*),   E1 = exp(-TR / T1)

T1 shortening by an agent at concentration C (fast water exchange)::

    1 / T1 = 1 / T1_0 + r1 * C

with r1 in L/(mmol*s) and C in mmol/L, so r1 * C is in 1/s; T1 values are in ms here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MS_PER_S = 1000.0


@dataclass(frozen=True)
class SequencePreset:
    """A 3D spoiled gradient echo protocol.

    Attributes:
        name: protocol label.
        field_strength_t: field the protocol is typical for, in tesla.
        repetition_time_ms: TR in ms.
        echo_time_ms: TE in ms.
        flip_angle_deg: excitation flip angle in degrees.
    """

    name: str
    field_strength_t: float
    repetition_time_ms: float
    echo_time_ms: float
    flip_angle_deg: float


SPGR_PRESETS: tuple[SequencePreset, ...] = (
    SequencePreset("flash3d_1.5t", 1.5, 25.0, 4.6, 30.0),
    SequencePreset("fast_spgr_1.5t", 1.5, 11.0, 4.8, 18.0),
    SequencePreset("spgr_3t", 3.0, 20.0, 2.5, 25.0),
    SequencePreset("fast_spgr_3t", 3.0, 7.6, 3.0, 12.0),
)


def presets_for_field(field_strength_t: float) -> tuple[SequencePreset, ...]:
    """The presets whose field strength is closest to ``field_strength_t`` tesla."""
    distances = [abs(preset.field_strength_t - field_strength_t) for preset in SPGR_PRESETS]
    nearest = min(distances)
    return tuple(
        preset for preset, distance in zip(SPGR_PRESETS, distances, strict=True) if distance == nearest
    )


def t1_with_agent(
    t1_native_ms: float | np.ndarray,
    concentration_mmol_per_l: float | np.ndarray,
    relaxivity_l_per_mmol_s: float,
) -> np.ndarray:
    """T1 in ms after uptake of an agent: 1/T1 = 1/T1_0 + r1 * C.

    Args:
        t1_native_ms: native T1 in ms, scalar or array (> 0).
        concentration_mmol_per_l: agent concentration in mmol/L (>= 0), broadcastable to ``t1_native_ms``.
        relaxivity_l_per_mmol_s: r1 in L/(mmol*s) (> 0).

    Returns:
        T1 in ms, float64, broadcast shape of the inputs.
    """
    if relaxivity_l_per_mmol_s <= 0:
        raise ValueError(f"Relaxivity must be > 0 L/(mmol*s), got {relaxivity_l_per_mmol_s}.")
    rate_per_ms = 1.0 / np.asarray(t1_native_ms, dtype=np.float64) + (
        relaxivity_l_per_mmol_s * np.asarray(concentration_mmol_per_l, dtype=np.float64) / MS_PER_S
    )
    return 1.0 / rate_per_ms


def spgr_signal(
    proton_density: float | np.ndarray,
    t1_ms: float | np.ndarray,
    preset: SequencePreset,
    t2_star_ms: float | np.ndarray = np.inf,
) -> np.ndarray:
    """Steady-state spoiled gradient echo signal (arbitrary units, proportional to M0).

    Args:
        proton_density: M0 (relative proton density), scalar or array.
        t1_ms: T1 in ms (> 0), broadcastable.
        preset: TR, TE (ms) and flip angle (degrees).
        t2_star_ms: T2* in ms (> 0); ``inf`` ignores T2* decay.

    Returns:
        The signal S, float64, broadcast shape of the inputs.
    """
    angle = np.deg2rad(preset.flip_angle_deg)
    with np.errstate(all="raise", under="ignore"):
        e1 = np.exp(-preset.repetition_time_ms / np.asarray(t1_ms, dtype=np.float64))
        t2_decay = np.exp(-preset.echo_time_ms / np.asarray(t2_star_ms, dtype=np.float64))
        return proton_density * np.sin(angle) * (1.0 - e1) / (1.0 - np.cos(angle) * e1) * t2_decay
