"""The dataset-level record of a prediction run: ``prediction_run.json`` and the ``--strict`` refusals.

:class:`DistributionLedger` collects each case's out-of-distribution findings
(``distribution_check.py``) while a folder is predicted, refuses a case with findings when the run is
strict, and logs one closing line. :func:`write_run_summary` writes the run's record atomically into the
output folder (``prediction_run.json``; a part of a sharded run writes
``prediction_run_part<K>_of_<N>.json``), format in documentation/inference.md::

    {"format_version": 1,
     "model": {"folder": "GDRTrainer__gdrPlans__3d_cpu", "folds": ["0", "1"], "training_ranges": true},
     "strict": false,
     "written": ["a", "b"], "skipped": [], "failed": {"c": "reason"}, "refused": [],
     "out_of_distribution": {"b": [{"quantity": "noise_sigma_ld", "value": 0.004, ...}]},
     "data_warnings": {"a": ["case a: 23.4 % of the brain ..."]}, "flagged": []}
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.inference.distribution_check import DistributionCheck
from gdr_toolkit.inference.model_loader import TrainedModel

if TYPE_CHECKING:
    from gdr_toolkit.inference.prediction_run import PredictionSummary

logger = logging.getLogger(__name__)
RUN_SUMMARY_FILE = "prediction_run.json"
RUN_SUMMARY_FORMAT_VERSION = 1
Findings = tuple[dict[str, Any], ...]


def shard_summary_file(num_parts: int, part_id: int) -> str:
    """The summary's name for part ``part_id`` of ``num_parts`` (one part per array job, no clobbering)."""
    return RUN_SUMMARY_FILE if num_parts == 1 else f"prediction_run_part{part_id}_of_{num_parts}.json"


class DistributionLedger:
    """The out-of-distribution findings of a run's cases, and the ``--strict`` refusals.

    Args:
        strict: refuse (do not write) a case with findings.
        has_ranges: whether the model stores training ranges (else nothing can be refused: one warning
            when strict).
    """

    def __init__(self, strict: bool, has_ranges: bool) -> None:
        self.strict = strict
        self.findings: dict[str, Findings] = {}
        self.refused: list[str] = []
        if strict and not has_ranges:
            logger.warning("--strict: the model stores no training ranges, so no case can be refused")

    def record(self, case_id: str, check: DistributionCheck | None) -> str | None:
        """Record a predicted case's check; the refusal reason when the run is strict and the case has
        findings (the caller then does not write it), else None."""
        if check is None or not check.findings:
            return None
        self.findings[case_id] = tuple(finding.to_json_dict() for finding in check.findings)
        if not self.strict:
            return None
        self.refused.append(case_id)
        quantities = ", ".join(f"{finding.quantity} = {finding.value:.4g}" for finding in check.findings)
        return f"refused by --strict: out of the training distribution ({quantities}); see the log"

    def record_previous(self, case_id: str, output_folder: Path) -> None:
        """Take the findings of a case written by an earlier run (``--continue_prediction``) from its
        ``CASE_summary.json``; nothing when the file is absent or unreadable."""
        path = Path(output_folder) / f"{case_id}_summary.json"
        try:
            records = json.loads(path.read_text(encoding="utf-8")).get("out_of_distribution") or []
        except (OSError, ValueError, AttributeError):
            return
        if records:
            self.findings[case_id] = tuple(records)

    def log_end(self) -> None:
        """One warning listing the cases with findings and the refused ones."""
        if self.findings:
            logger.warning(
                "%d case(s) out of the training distribution (see %s and CASE_summary.json): %s; refused: %s",
                len(self.findings), RUN_SUMMARY_FILE, ", ".join(sorted(self.findings)),
                ", ".join(self.refused) or "none",
            )  # fmt: skip


def run_summary_record(summary: PredictionSummary, model: TrainedModel, strict: bool) -> dict[str, Any]:
    """The JSON record of a run (module docstring)."""
    folds = [str(fold.fold) for fold in model.folds]
    return {
        "format_version": RUN_SUMMARY_FORMAT_VERSION,
        "model": {
            "folder": model.folder.name,
            "folds": folds,
            "training_ranges": model.training_ranges is not None,
        },
        "strict": strict,
        "written": sorted(summary.written),
        "skipped": sorted(summary.skipped),
        "failed": dict(sorted(summary.failures.items())),
        "refused": sorted(summary.refused),
        "out_of_distribution": {
            case: list(records) for case, records in sorted(summary.out_of_distribution.items())
        },
        "data_warnings": {case: list(messages) for case, messages in sorted(summary.warnings.items())},
        "flagged": sorted(summary.flagged),
    }


def write_run_summary(path: Path, summary: PredictionSummary, model: TrainedModel, strict: bool) -> None:
    """Write :func:`run_summary_record` to ``path`` atomically."""
    write_json_atomic(run_summary_record(summary, model, strict), path)
