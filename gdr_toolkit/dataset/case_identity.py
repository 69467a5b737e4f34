"""One patient, one study, one frame of reference per case: the series of a case compared by their headers.

PC, LD and (where given) SD of a case must come from one examination of one patient. Compared with PC's,
for each other series given as DICOM: PatientID, with PatientName and PatientBirthDate as a cross-check
(a mix-up between two patients who share an ID, or a mistyped ID), StudyInstanceUID and
FrameOfReferenceUID (the low and standard dose are acquired in the pre-contrast's session, without the
patient leaving the table). Empty or absent values are not compared (anonymised exports blank some of
them); names are compared without case and trailing empty components (``DOE^JANE^^`` equals ``Doe^Jane``).
A case with a NIfTI channel is compared on its DICOM channels only.

``gdr_predict --allow_mismatched_patient`` accepts a mismatching case with a warning (e.g. a dataset whose
low-dose series was filed under a research ID); raw datasets (``gdr_verify_dataset``, preprocessing) refuse it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path

import pydicom

from gdr_toolkit.dataset.dicom_headers import DicomSeriesError, series_file_paths, tag_text

logger = logging.getLogger(__name__)
RULE = "rule: one patient, study and frame of reference per case"


class CaseIdentityError(ValueError):
    """The series of one case belong to different patients, studies or frames of reference."""


@dataclass(frozen=True)
class SeriesIdentity:
    """Who and which examination a series belongs to (empty string: absent in the header)."""

    patient_id: str
    patient_name: str
    birth_date: str
    study_uid: str
    frame_of_reference_uid: str


# field -> (DICOM keyword named in messages, tag)
IDENTITY_TAGS = {
    "patient_id": ("PatientID", "0010|0020"),
    "patient_name": ("PatientName", "0010|0010"),
    "birth_date": ("PatientBirthDate", "0010|0030"),
    "study_uid": ("StudyInstanceUID", "0020|000d"),
    "frame_of_reference_uid": ("FrameOfReferenceUID", "0020|0052"),
}


def read_series_identity(path: Path) -> SeriesIdentity | None:
    """The identity in the first readable file of a series folder; None for a file (NIfTI ...) or a folder
    none of whose files is readable DICOM (reading the series reports that)."""
    path = Path(path)
    if not path.is_dir():
        return None
    try:
        candidates = series_file_paths(path)
    except DicomSeriesError:
        return None
    for candidate in candidates:
        try:
            dataset = pydicom.dcmread(candidate, stop_before_pixels=True)
        except Exception:  # noqa: BLE001, S112 (any damaged file: try the next; the series reader names it)
            continue
        values = {name: tag_text(dataset, tag) or "" for name, (_, tag) in IDENTITY_TAGS.items()}
        return SeriesIdentity(**values)
    return None


def _comparable(name: str, value: str) -> str:
    if name == "patient_name":
        return value.rstrip("^= ").casefold()
    return value.strip()


def identity_differences(reference: SeriesIdentity, other: SeriesIdentity) -> list[str]:
    """The attributes in which ``other`` differs from ``reference`` (both present), as ``NAME 'a' vs 'b'``."""
    differences = []
    for field in fields(SeriesIdentity):
        first, second = getattr(reference, field.name), getattr(other, field.name)
        if first and second and _comparable(field.name, first) != _comparable(field.name, second):
            differences.append(f"{IDENTITY_TAGS[field.name][0]} {second!r} vs {first!r}")
    return differences


def case_identity_mismatches(series: dict[str, Path]) -> dict[str, str]:
    """Each series that differs from the first (PC) of ``series`` (role -> path), with how it differs.

    Returns:
        role -> ``"LD (CASE_0001) differs from PC (CASE_0000): PatientID 'b' vs 'a', ..."``; empty when the
        case is consistent or fewer than two of its series are DICOM.
    """
    identities = {role: (path, read_series_identity(path)) for role, path in series.items()}
    known = {role: (path, identity) for role, (path, identity) in identities.items() if identity is not None}
    roles = list(series)
    if roles[0] not in known:
        return {}
    reference_path, reference = known[roles[0]]
    mismatches = {}
    for role, (path, identity) in known.items():
        if role != roles[0] and (differences := identity_differences(reference, identity)):
            mismatches[role] = (
                f"{role} ({path.name}) differs from {roles[0]} ({reference_path.name}): {', '.join(differences)}"
            )
    return mismatches


def check_case_identity(
    case_id: str, series: dict[str, Path], allow_mismatch: bool = False
) -> dict[str, str]:
    """Refuse a case whose series belong to different patients/studies (:func:`case_identity_mismatches`).

    Args:
        case_id: the case, for the message.
        series: role (``PC`` first, ``LD``, ``SD``) -> image file or series folder.
        allow_mismatch: accept a mismatch, logging a warning (``--allow_mismatched_patient``).

    Returns:
        The mismatches (empty when consistent).

    Raises:
        CaseIdentityError: one line naming the series, the differing values and the rule.
    """
    mismatches = case_identity_mismatches(series)
    if mismatches and not allow_mismatch:
        raise CaseIdentityError(f"{'; '.join(mismatches.values())} ({RULE})")
    if mismatches:
        logger.warning(
            "case %s: %s; predicted anyway (--allow_mismatched_patient)",
            case_id,
            "; ".join(mismatches.values()),
        )
    return mismatches
