"""Dataset fingerprint (documentation/fingerprint.md): what the planner needs to know about a dataset.

Modules: ``case_fingerprint`` (one case), ``head_extent`` (the head's bounding box),
``dataset_fingerprint`` (all cases and derived summaries, the JSON file) and ``extraction`` (parallel
extraction and the cache in ``$gdr_preprocessed``).
"""

from __future__ import annotations

from gdr_toolkit.fingerprint.case_fingerprint import CaseFingerprint, fingerprint_case
from gdr_toolkit.fingerprint.dataset_fingerprint import DatasetFingerprint, MetadataSummary
from gdr_toolkit.fingerprint.extraction import (
    FINGERPRINT_FILE_NAME,
    FingerprintExtractionError,
    extract_fingerprint,
    load_or_extract_fingerprint,
)

__all__ = [
    "FINGERPRINT_FILE_NAME",
    "CaseFingerprint",
    "DatasetFingerprint",
    "FingerprintExtractionError",
    "MetadataSummary",
    "extract_fingerprint",
    "fingerprint_case",
    "load_or_extract_fingerprint",
]
