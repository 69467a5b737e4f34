"""Noiseless MR signal of the phantom from tissue fractions, concentrations and the sequence.

Each voxel holds compartments (tissue classes) with fractions f_t; compartments do not exchange water,
so the voxel signal is the fraction-weighted sum of the compartments' signals (SPGR shown; MPRAGE
alike):

    S(x) = sum_t f_t(x) * SPGR(M0_t, T1_t(C_t(x)), T2*_t; TR, TE, a),   1/T1_t = 1/T1_t,0 + r1 * C_t

Only the enhancing compartments (lesion, blood, choroid plexus, dura) carry agent (C_t > 0). Lesions,
vessels and plexus displace the native tissue they are painted into.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gdr_toolkit.simulation.enhancement import EnhancementMaps
from gdr_toolkit.simulation.mprage import mprage_signal
from gdr_toolkit.simulation.signal_equation import SequencePreset, spgr_signal, t1_with_agent
from gdr_toolkit.simulation.tissue_properties import find_tissue

PAINTED_COMPARTMENTS = ("lesion", "blood", "choroid_plexus")


def tissue_signal(
    name: str,
    field_strength_t: float,
    preset: SequencePreset,
    concentration_mmol_per_l: float | np.ndarray = 0.0,
    relaxivity_l_per_mmol_s: float = 1.0,
) -> np.ndarray:
    """SPGR or MPRAGE signal (``preset.kind``) of tissue ``name`` (fraction 1) holding agent at
    ``concentration_mmol_per_l``."""
    tissue = find_tissue(name)
    t1_ms = t1_with_agent(tissue.t1_at(field_strength_t), concentration_mmol_per_l, relaxivity_l_per_mmol_s)
    signal = mprage_signal if preset.kind == "mprage" else spgr_signal
    return signal(tissue.proton_density, t1_ms, preset, tissue.t2_star_at(field_strength_t))


def compartment_fractions(
    native: dict[str, np.ndarray], enhancement: EnhancementMaps
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Native and enhancing fractions after painting (painted compartments displace the others).

    Args:
        native: fractions from :func:`anatomy.head_fractions` (including "dura").
        enhancement: the enhancing compartments.

    Returns:
        (native fractions without dura, enhancing fractions incl. dura); all float32 (z, y, x), and per
        voxel their sum is <= 1.
    """
    painted = sum(enhancement.fractions[name] for name in PAINTED_COMPARTMENTS)
    overlap = np.maximum(painted, 1.0)
    keep = 1.0 - np.minimum(painted, 1.0)
    enhancing = {name: enhancement.fractions[name] / overlap for name in PAINTED_COMPARTMENTS}
    enhancing["dura"] = native["dura"] * keep
    others = {name: fraction * keep for name, fraction in native.items() if name != "dura"}
    return others, enhancing


def noiseless_signals(
    native: dict[str, np.ndarray],
    enhancement: EnhancementMaps,
    field_strength_t: float,
    preset: SequencePreset,
    relaxivity_l_per_mmol_s: float,
    concentration_scales: Sequence[float],
) -> list[np.ndarray]:
    """Signal images for several doses (same anatomy and sequence).

    Args:
        native: native tissue fractions (see :func:`compartment_fractions`).
        enhancement: enhancing compartments with concentrations at the reference dose (mmol/L).
        field_strength_t: field in tesla (selects T1 and T2*).
        preset: the SPGR sequence.
        relaxivity_l_per_mmol_s: r1 of the agent at this field.
        concentration_scales: one factor per scan multiplying the reference concentrations
            (0 for pre-contrast; see :func:`enhancement.dose_scale`).

    Returns:
        One float32 array (z, y, x) per scale, in signal units (M0 = 1 for CSF).
    """
    others, enhancing = compartment_fractions(native, enhancement)
    base = np.zeros(enhancement.lesion_labels.shape, dtype=np.float32)
    for name, fraction in others.items():
        base += fraction * np.float32(tissue_signal(name, field_strength_t, preset))
    support = np.flatnonzero(sum(fraction > 0 for fraction in enhancing.values()))
    signals = []
    for scale in concentration_scales:
        signal = base.copy()
        added = np.zeros(support.size, dtype=np.float64)
        for name, fraction in enhancing.items():
            concentration = enhancement.concentrations[name]
            if isinstance(concentration, np.ndarray):
                concentration = concentration.ravel()[support]
            added += fraction.ravel()[support] * tissue_signal(
                name, field_strength_t, preset, scale * concentration, relaxivity_l_per_mmol_s
            )
        signal.ravel()[support] += added.astype(np.float32)
        signals.append(signal)
    return signals
