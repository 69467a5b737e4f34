"""Native relaxation times and proton densities of the tissues the phantom is made of.

T1 values are typical literature values for human tissue in vivo: brain, blood and muscle from
Stanisz et al., MRM 2005;54:507-512 (1.5 T and 3 T); CSF from Rooney et al., MRM 2007;57:308-318;
subcutaneous fat from de Bazelaire et al., Radiology 2004;230:652-659. Lesion, dura, choroid plexus
and bone values are rounded estimates (their exact value hardly changes the images: bone has almost no
signal, the others are small or dominated by contrast uptake). T2* values are rounded literature
values; proton densities are relative to CSF (= 1).

Field strengths between the two tabulated ones are interpolated linearly in tesla; outside [1.5, 3] T
the nearest tabulated value is used (the simulator only draws 1.5 T and 3 T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TABULATED_FIELDS_T = (1.5, 3.0)


@dataclass(frozen=True)
class Tissue:
    """Relaxation properties of one tissue class.

    Attributes:
        name: tissue name (``TISSUES`` key).
        t1_ms: native T1 in ms at (1.5 T, 3 T).
        t2_star_ms: T2* in ms at (1.5 T, 3 T).
        proton_density: equilibrium magnetisation M0 relative to CSF (dimensionless).
    """

    name: str
    t1_ms: tuple[float, float]
    t2_star_ms: tuple[float, float]
    proton_density: float

    def t1_at(self, field_strength_t: float) -> float:
        """Native T1 in ms at ``field_strength_t`` tesla."""
        return _interpolate(self.t1_ms, field_strength_t)

    def t2_star_at(self, field_strength_t: float) -> float:
        """T2* in ms at ``field_strength_t`` tesla."""
        return _interpolate(self.t2_star_ms, field_strength_t)


def _interpolate(values: tuple[float, float], field_strength_t: float) -> float:
    if not np.isfinite(field_strength_t) or field_strength_t <= 0:
        raise ValueError(f"Field strength must be a positive number of tesla, got {field_strength_t}.")
    return float(np.interp(field_strength_t, TABULATED_FIELDS_T, values))


TISSUES: dict[str, Tissue] = {
    tissue.name: tissue
    for tissue in (
        Tissue("white_matter", (884.0, 1084.0), (65.0, 50.0), 0.69),
        Tissue("grey_matter", (1124.0, 1820.0), (75.0, 55.0), 0.80),
        Tissue("csf", (4000.0, 4300.0), (400.0, 300.0), 1.00),
        Tissue("blood", (1441.0, 1932.0), (50.0, 30.0), 0.85),
        Tissue("lesion", (1300.0, 1700.0), (70.0, 50.0), 0.85),
        Tissue("dura", (900.0, 1200.0), (30.0, 25.0), 0.60),
        Tissue("choroid_plexus", (1200.0, 1500.0), (60.0, 45.0), 0.85),
        Tissue("bone", (250.0, 250.0), (1.0, 0.8), 0.05),
        Tissue("marrow", (350.0, 390.0), (20.0, 15.0), 0.85),
        Tissue("fat", (343.0, 382.0), (35.0, 25.0), 0.90),
        Tissue("muscle", (1008.0, 1412.0), (30.0, 25.0), 0.72),
    )
}


def find_tissue(name: str) -> Tissue:
    """The tissue called ``name``; the error lists the known names."""
    if name not in TISSUES:
        raise ValueError(f"Unknown tissue {name!r}; known: {', '.join(TISSUES)}.")
    return TISSUES[name]
