"""Per-case scanner metadata (``metadataTr/CASE.json``): the condition inputs of the network.

Schema (keys; units in the names):
    dose_fraction (float, required): low dose relative to the agent's standard dose, in (0, 1).
    field_strength_t (float, optional): main field in tesla, > 0.
    contrast_agent (str, optional): generic or brand name.
    relaxivity (float, optional): r1 in L/(mmol*s); overrides the agent table.
Field strength and agent are optional because archives (BraTS, synthetic low dose made from them) do not
record them: what the archive lacks stays absent and the planner drops it from the condition. Where
present they are checked; an agent needs a field strength (or ``relaxivity``) to give a relaxivity.
    repetition_time_ms, echo_time_ms, flip_angle_deg, scanner (optional): sequence/scanner information.
    simulation (dict, optional): ground truth written by the simulator (motion, SNR, ...).
Unknown extra keys are kept in ``extra`` and ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gdr_toolkit.dataset.agents import find_agent

REQUIRED_KEYS = ("dose_fraction",)
SCANNER_KEYS = ("field_strength_t", "contrast_agent", "relaxivity")
OPTIONAL_SEQUENCE_KEYS = ("repetition_time_ms", "echo_time_ms", "flip_angle_deg", "scanner")
MAX_FIELD_STRENGTH_T = 21.1  # strongest human/animal MRI magnet; anything above is a unit error


@dataclass(frozen=True)
class CaseMetadata:
    """Validated metadata of one case (see module docstring for the schema)."""

    field_strength_t: float | None
    dose_fraction: float
    contrast_agent: str | None = None
    relaxivity_override: float | None = None
    sequence: dict[str, Any] = field(default_factory=dict)
    simulation: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def relaxivity_l_per_mmol_s(self) -> float | None:
        """r1 at this field: the override if present, else the agent table (interpolated); None when the
        metadata name no agent, or an agent without a field strength."""
        if self.relaxivity_override is not None:
            return self.relaxivity_override
        if self.contrast_agent is None or self.field_strength_t is None:
            return None
        return find_agent(self.contrast_agent).relaxivity_l_per_mmol_s(self.field_strength_t)

    def to_json_dict(self) -> dict[str, Any]:
        """The raw-format JSON dictionary (inverse of :func:`parse_case_metadata`)."""
        record: dict[str, Any] = {"dose_fraction": self.dose_fraction}
        if self.field_strength_t is not None:
            record["field_strength_t"] = self.field_strength_t
        if self.contrast_agent is not None:
            record["contrast_agent"] = self.contrast_agent
        if self.relaxivity_override is not None:
            record["relaxivity"] = self.relaxivity_override
        record.update(self.sequence)
        if self.simulation is not None:
            record["simulation"] = self.simulation
        record.update(self.extra)
        return record


def _number(record: dict[str, Any], key: str, source: str) -> float:
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{source}: '{key}' must be a finite number, got {value!r}.")
    return float(value)


def parse_case_metadata(record: dict[str, Any], source: str = "metadata") -> CaseMetadata:
    """Validate a metadata dictionary.

    Args:
        record: the parsed JSON object.
        source: the file (or other origin) named in error messages.

    Raises:
        ValueError: a missing dose, a value out of range (dose outside (0, 1), field strength <= 0 or
            above 21.1 T, relaxivity <= 0) or an unknown agent without a relaxivity override.
    """
    if not isinstance(record, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(record).__name__}.")
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise ValueError(f"{source}: missing metadata key(s): {', '.join(missing)}.")
    field_strength_t, agent, relaxivity = check_scanner_metadata(record, source)
    dose_fraction = _number(record, "dose_fraction", source)
    if not 0 < dose_fraction < 1:
        raise ValueError(
            f"{source}: dose_fraction is the low dose relative to the standard dose and must lie in (0, 1), "
            f"got {dose_fraction}."
        )
    known = {*REQUIRED_KEYS, "contrast_agent", "relaxivity", "simulation", *OPTIONAL_SEQUENCE_KEYS}
    return CaseMetadata(
        field_strength_t=field_strength_t,
        dose_fraction=dose_fraction,
        contrast_agent=agent,
        relaxivity_override=relaxivity,
        sequence={key: record[key] for key in OPTIONAL_SEQUENCE_KEYS if key in record},
        simulation=record.get("simulation"),
        extra={key: value for key, value in record.items() if key not in known},
    )


def check_scanner_metadata(
    record: dict[str, Any], source: str
) -> tuple[float | None, str | None, float | None]:
    """(field_strength_t, contrast_agent, relaxivity) of a metadata record, each None when absent.

    Raises:
        ValueError: a field strength outside (0, 21.1] T, a relaxivity <= 0, or an unknown agent without
            a relaxivity override; the message names ``source``.
    """
    field_strength_t = None
    if "field_strength_t" in record:
        field_strength_t = _number(record, "field_strength_t", source)
        if not 0 < field_strength_t <= MAX_FIELD_STRENGTH_T:
            raise ValueError(
                f"{source}: field_strength_t must be in (0, {MAX_FIELD_STRENGTH_T}] T, got {field_strength_t}."
            )
    relaxivity = None
    if "relaxivity" in record:
        relaxivity = _number(record, "relaxivity", source)
        if relaxivity <= 0:
            raise ValueError(f"{source}: relaxivity must be > 0 L/(mmol*s), got {relaxivity}.")
    agent = record.get("contrast_agent")
    if agent is not None:
        if relaxivity is None:
            try:
                find_agent(agent)
            except ValueError as error:
                raise ValueError(f"{source}: {error}") from error
        agent = str(agent)
    return field_strength_t, agent, relaxivity


def load_case_metadata(path: Path | str) -> CaseMetadata:
    """Read and validate ``CASE.json``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Metadata file {path} does not exist.")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error}).") from error
    return parse_case_metadata(record, source=str(path))
