"""SPGR (FLASH) and MPRAGE signals, T1 shortening by a gadolinium agent (documentation/method.md section 7).

Steady-state signal of a spoiled gradient echo::

    S = M0 * sin(a) * (1 - E1) / (1 - cos(a) * E1) * exp(-TE / T2*),   E1 = exp(-TR / T1)

The inversion-recovery MPRAGE / 3D TurboFLASH signal is in :mod:`gdr_toolkit.simulation.mprage`.

T1 shortening by an agent at concentration C (fast water exchange)::

    1 / T1 = 1 / T1_0 + r1 * C

with r1 in L/(mmol*s) and C in mmol/L, so r1 * C is in 1/s; T1 values are in ms here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

MS_PER_S = 1000.0


@dataclass(frozen=True)
class SequencePreset:
    """A 3D T1-weighted protocol: spoiled gradient echo, or MPRAGE (inversion-prepared TurboFLASH).

    Attributes:
        name: protocol label.
        field_strength_t: field the protocol is typical for, in tesla.
        repetition_time_ms: TR in ms (SPGR: between excitations; MPRAGE: between inversions).
        echo_time_ms: TE in ms.
        flip_angle_deg: excitation flip angle in degrees.
        kind: "spgr" or "mprage".
        inversion_time_ms: MPRAGE: TI, inversion to the centre of k-space (the central excitation), ms.
        echo_spacing_ms: MPRAGE: time between the excitations of one readout train, ms.
        excitations_per_inversion: MPRAGE: length of the readout train (the centre is its middle).
        inversion_efficiency: MPRAGE: Mz after the inversion is -efficiency * Mz before it (1: perfect).
    """

    name: str
    field_strength_t: float
    repetition_time_ms: float
    echo_time_ms: float
    flip_angle_deg: float
    kind: Literal["spgr", "mprage"] = "spgr"
    inversion_time_ms: float | None = None
    echo_spacing_ms: float | None = None
    excitations_per_inversion: int | None = None
    inversion_efficiency: float = 1.0


SPGR_PRESETS: tuple[SequencePreset, ...] = (
    SequencePreset("flash3d_1.5t", 1.5, 25.0, 4.6, 30.0),
    SequencePreset("fast_spgr_1.5t", 1.5, 11.0, 4.8, 18.0),
    SequencePreset("spgr_3t", 3.0, 20.0, 2.5, 25.0),
    SequencePreset("fast_spgr_3t", 3.0, 7.6, 3.0, 12.0),
)


# Typical MPRAGE protocols: 3 T after the ADNI protocol (TR 2300, TI 900, 9 deg), 1.5 T after ADNI's
# 1.5 T protocol (TR 2400, TI 1000, 8 deg); echo spacings and train lengths are typical vendor values.
MPRAGE_PRESETS: tuple[SequencePreset, ...] = (
    SequencePreset("mprage_1.5t", 1.5, 2400.0, 3.6, 8.0, "mprage", 1000.0, 8.6, 160, 0.96),
    SequencePreset("mprage_3t", 3.0, 2300.0, 2.98, 9.0, "mprage", 900.0, 7.0, 192, 0.96),
)


def presets_for_field(
    field_strength_t: float, kind: Literal["spgr", "mprage"] = "spgr"
) -> tuple[SequencePreset, ...]:
    """The presets of ``kind`` whose field strength is closest to ``field_strength_t`` tesla."""
    candidates = SPGR_PRESETS if kind == "spgr" else MPRAGE_PRESETS
    distances = [abs(preset.field_strength_t - field_strength_t) for preset in candidates]
    nearest = min(distances)
    return tuple(
        preset for preset, distance in zip(candidates, distances, strict=True) if distance == nearest
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
