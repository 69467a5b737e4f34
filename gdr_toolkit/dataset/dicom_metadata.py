"""Case metadata (field strength, agent, dose fraction) read from a low-dose DICOM series' headers.

Used where a case has no metadata JSON (documentation/dicom.md, "Metadata from the headers"):

    field_strength_t = MagneticFieldStrength (0018,0087), tesla
    contrast_agent   = ContrastBolusAgent (0018,0010), matched to the agent table (``agents.py``)
    dose_fraction    = ContrastBolusVolume (0018,1041) [mL]
                       / (PatientWeight (0010,1030) [kg] * the agent's standard dose [mL/kg])

with the standard dose in mL/kg = standard dose [mmol/kg] / concentration [mmol/mL] of the marketed
solution (product labels: gadobutrol 0.1 mmol/kg at 1.0 mmol/mL = 0.1 mL/kg; gadoterate, gadoteridol,
gadobenate 0.1 mmol/kg at 0.5 mmol/mL = 0.2 mL/kg; gadopiclenol 0.05 mmol/kg at 0.5 mmol/mL = 0.1 mL/kg).
RepetitionTime, EchoTime and FlipAngle travel along as the optional sequence keys. The values then pass
the same validation as a JSON file (``metadata.parse_case_metadata``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from gdr_toolkit.dataset.agents import ContrastAgent, find_agent, known_agent_names
from gdr_toolkit.dataset.dicom_headers import read_series_headers
from gdr_toolkit.dataset.metadata import CaseMetadata, parse_case_metadata

HEADER_KEYWORDS = ("MagneticFieldStrength", "ContrastBolusAgent", "ContrastBolusVolume", "PatientWeight")
SEQUENCE_KEYWORDS = {"RepetitionTime": "repetition_time_ms", "EchoTime": "echo_time_ms",
                     "FlipAngle": "flip_angle_deg"}  # fmt: skip


class HeaderMetadataError(ValueError):
    """The headers lack (or carry unusable) metadata; the message names the series and the attributes."""


def match_agent(text: str) -> ContrastAgent | None:
    """The agent a free-text ContrastBolusAgent names ("GADOVIST 1.0", "15 ml Dotarem", "gadobutrol"),
    by whole-word match of a generic or brand name (case-insensitive); None when no known name occurs or
    names of two different agents occur."""
    words = " " + " ".join(re.sub(r"[^a-z0-9]+", " ", str(text).lower()).split()) + " "
    found = {
        find_agent(name).generic_name: find_agent(name)
        for name in known_agent_names()
        if f" {name} " in words
    }
    return next(iter(found.values())) if len(found) == 1 else None


def _first(headers: Sequence[Dataset], keyword: str) -> Any:
    """The first non-empty value of ``keyword`` over the headers, or None."""
    for header in headers:
        value = header.get(keyword)
        if value is not None and str(value).strip() != "":
            return value
    return None


def metadata_from_headers(headers: Sequence[Dataset], source: str) -> CaseMetadata:
    """Case metadata from a low-dose series' headers (formulas: module docstring).

    Args:
        headers: the series' headers (``dicom_headers.read_series_headers``).
        source: the series folder, named in errors.

    Raises:
        HeaderMetadataError: an attribute is missing or empty (all missing ones named), the agent is not
            in the table, or the values fail validation (e.g. a dose fraction >= 1).
    """
    values = {keyword: _first(headers, keyword) for keyword in HEADER_KEYWORDS}
    missing = [keyword for keyword, value in values.items() if value is None]
    if missing:
        raise HeaderMetadataError(f"{source}: the DICOM headers lack {', '.join(missing)}")
    agent = match_agent(str(values["ContrastBolusAgent"]))
    if agent is None:
        raise HeaderMetadataError(
            f"{source}: ContrastBolusAgent {str(values['ContrastBolusAgent'])!r} names no (or more than one) "
            f"known agent; known names: {', '.join(known_agent_names())}"
        )
    volume_ml, weight_kg = float(values["ContrastBolusVolume"]), float(values["PatientWeight"])
    if weight_kg <= 0:
        raise HeaderMetadataError(f"{source}: PatientWeight must be > 0 kg, got {weight_kg}")
    record: dict[str, Any] = {
        "field_strength_t": float(values["MagneticFieldStrength"]),
        "contrast_agent": agent.generic_name,
        "dose_fraction": volume_ml / (weight_kg * agent.standard_dose_ml_per_kg),
    }
    for keyword, key in SEQUENCE_KEYWORDS.items():
        value = _first(headers, keyword)
        if value is not None:
            record[key] = float(value)
    try:
        return parse_case_metadata(record, source=f"{source} (from the DICOM headers)")
    except ValueError as error:
        raise HeaderMetadataError(str(error)) from error


def metadata_from_series(folder: Path | str) -> CaseMetadata:
    """:func:`metadata_from_headers` of the DICOM series in ``folder``.

    Raises:
        HeaderMetadataError: no DICOM file in ``folder``, or as :func:`metadata_from_headers`.
    """
    headers = read_series_headers(folder)
    if not headers:
        raise HeaderMetadataError(f"{folder}: no DICOM file to read metadata from")
    return metadata_from_headers(headers, str(folder))
