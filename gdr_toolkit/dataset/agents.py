"""Gadolinium-based contrast agents: T1 relaxivity by field strength and standard dose.

Relaxivities r1 in L/(mmol*s) in human whole blood at 37 C from Shen et al., Invest Radiol 2015
(1.5 T, 3 T, 7 T); gadopiclenol from Robic et al., Invest Radiol 2019 (human serum, 37 C; measured at
1.41 T, tabulated here at 1.5 T). Standard doses in mmol/kg body weight from the product labels (CNS);
concentrations of the marketed solutions in mmol/mL from the same labels (gadobutrol 1.0, the others 0.5),
which give the standard dose in mL/kg used to read a dose from DICOM headers (``dicom_metadata.py``).

Rule for other field strengths: piecewise-linear interpolation in tesla between tabulated fields, held
constant beyond the lowest and highest tabulated field (relaxivity varies slowly there; extrapolating
a slope would be a guess).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ContrastAgent:
    """One agent.

    Attributes:
        generic_name: INN, lower case (e.g. "gadobutrol").
        brand_names: trade names, lower case.
        relaxivity_by_field: ((field_strength_t, r1 in L/(mmol*s)), ...) sorted by field.
        standard_dose_mmol_per_kg: the weight-based standard dose.
        source: literature reference of the relaxivities.
        concentration_mmol_per_ml: gadolinium concentration of the marketed solution (product label).
    """

    generic_name: str
    brand_names: tuple[str, ...]
    relaxivity_by_field: tuple[tuple[float, float], ...]
    standard_dose_mmol_per_kg: float
    source: str
    concentration_mmol_per_ml: float

    @property
    def standard_dose_ml_per_kg(self) -> float:
        """Volume of the marketed solution per kg body weight that makes the standard dose."""
        return self.standard_dose_mmol_per_kg / self.concentration_mmol_per_ml

    def relaxivity_l_per_mmol_s(self, field_strength_t: float) -> float:
        """r1 at ``field_strength_t`` tesla (piecewise linear, constant beyond the table)."""
        if not np.isfinite(field_strength_t) or field_strength_t <= 0:
            raise ValueError(f"Field strength must be a positive number of tesla, got {field_strength_t}.")
        fields = [field for field, _ in self.relaxivity_by_field]
        values = [value for _, value in self.relaxivity_by_field]
        return float(np.interp(field_strength_t, fields, values))


_SHEN_2015 = "Shen et al., Invest Radiol 2015;50:330-338 (human whole blood, 37 C)"
_ROBIC_2019 = "Robic et al., Invest Radiol 2019;54:475-484 (human serum, 37 C; 1.41 T tabulated at 1.5 T)"

CONTRAST_AGENTS: tuple[ContrastAgent, ...] = (
    ContrastAgent(
        "gadobutrol", ("gadovist", "gadavist"), ((1.5, 4.6), (3.0, 4.5), (7.0, 4.2)), 0.1, _SHEN_2015, 1.0
    ),
    ContrastAgent(
        "gadoterate",
        ("dotarem", "clariscan", "artirem", "gadoterate meglumine", "gadoteric acid"),
        ((1.5, 3.9), (3.0, 3.4), (7.0, 2.8)),
        0.1,
        _SHEN_2015,
        0.5,
    ),
    ContrastAgent("gadoteridol", ("prohance",), ((1.5, 4.4), (3.0, 3.5), (7.0, 3.4)), 0.1, _SHEN_2015, 0.5),
    ContrastAgent(
        "gadobenate",
        ("multihance", "gadobenate dimeglumine"),
        ((1.5, 6.2), (3.0, 5.4), (7.0, 4.7)),
        0.1,
        _SHEN_2015,
        0.5,
    ),
    ContrastAgent("gadopiclenol", ("elucirem", "vueway"), ((1.5, 12.8), (3.0, 11.6)), 0.05, _ROBIC_2019, 0.5),
)

_AGENT_BY_NAME = {
    name: agent for agent in CONTRAST_AGENTS for name in (agent.generic_name, *agent.brand_names)
}


def known_agent_names() -> list[str]:
    """All generic and brand names that :func:`find_agent` accepts."""
    return sorted(_AGENT_BY_NAME)


def find_agent(name: str) -> ContrastAgent:
    """Look an agent up by generic or brand name, case- and whitespace-insensitively.

    Raises:
        ValueError: unknown name; the message lists the known names.
    """
    key = " ".join(str(name).lower().split())
    if key not in _AGENT_BY_NAME:
        raise ValueError(
            f"Unknown contrast agent {name!r}. Known names: {', '.join(known_agent_names())}. "
            "For another agent give its relaxivity explicitly (metadata key 'relaxivity')."
        )
    return _AGENT_BY_NAME[key]
