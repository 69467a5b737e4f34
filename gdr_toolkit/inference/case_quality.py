"""What the predictor says about a case's data: LD's field of view and the registration check.

A case is *warned about* when more than ``FOV_WARNING_FRACTION`` (1 %) of its brain lies outside LD's
field of view (there SD is PC and SD+ falls back to SD: no contrast can be predicted where LD has no data),
and *flagged* when a CE scan's co-registration was not accepted by preprocessing's quality check
(``CaseProperties.registration_quality``). Either way the prediction is written; the warning is logged
(``logging.warning`` naming the case and the measure) and recorded in the case's ``CASE_summary.json``
under the keys of :meth:`CaseQuality.to_json_dict` plus ``valid_mask_file``.

Per-case file written next to the images (documentation/inference.md):
    CASE_valid_mask.nii.gz   uint8 0/1 on PC's grid (1 where LD has data), only when some voxel is 0
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import write_image_atomic
from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase

logger = logging.getLogger(__name__)
VALID_MASK_ARRAY = "valid_mask"
FOV_WARNING_FRACTION = 0.01
VALID_MASK_SUFFIX = "_valid_mask.nii.gz"


@dataclass(frozen=True)
class CaseQuality:
    """The data-quality record of one predicted case.

    Attributes:
        case_id: the case.
        brain_fraction_outside_low_dose_fov: fraction (0-1) of the brain mask outside LD's field of view,
            None when the case carries neither coverage nor a valid mask.
        registration_quality: per CE scan {"fov_overlap", "similarity", "accepted"} as preprocessing stored
            it (empty when it stored none).
        flagged: whether a co-registration was not accepted.
        warnings: the warning messages, in the order they were logged.
    """

    case_id: str
    brain_fraction_outside_low_dose_fov: float | None = None
    registration_quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    flagged: bool = False
    warnings: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "brain_fraction_outside_low_dose_fov": self.brain_fraction_outside_low_dose_fov,
            "registration_quality": self.registration_quality,
            "flagged": self.flagged,
            "warnings": list(self.warnings),
        }


def valid_mask_of(case: PreprocessedCase) -> np.ndarray | None:
    """bool (z, y, x) on PC's grid, True where LD has data; None when the case has no valid mask (all valid)."""
    mask = case.arrays.get(VALID_MASK_ARRAY)
    return None if mask is None else np.asarray(mask) > 0


def brain_fraction_outside(case: PreprocessedCase) -> float | None:
    """1 - coverage of LD (``CaseProperties.coverage["low_dose"]``), else computed from the valid and brain
    masks; None when the case has neither."""
    coverage = getattr(case.properties, "coverage", None) or {}
    if "low_dose" in coverage:
        return float(1.0 - coverage["low_dose"])
    valid = valid_mask_of(case)
    if valid is None:
        return None
    brain = np.asarray(case.arrays["brain_mask"]) > 0
    return float((brain & ~valid).sum() / max(int(brain.sum()), 1))


def assess_case(case: PreprocessedCase, case_id: str) -> CaseQuality:
    """Check LD's coverage and the registration quality of a preprocessed case; log a warning per finding."""
    warnings = []
    outside = brain_fraction_outside(case)
    if outside is not None and outside > FOV_WARNING_FRACTION:
        warnings.append(
            f"case {case_id}: {100 * outside:.1f} % of the brain lies outside the low dose's field of view; "
            "there the synthesised SD is the pre-contrast scan and SD+ falls back to it (no contrast)"
        )
    quality = dict(getattr(case.properties, "registration_quality", None) or {})
    rejected = {scan: record for scan, record in quality.items() if not record.get("accepted", True)}
    for scan, record in rejected.items():
        measures = ", ".join(f"{name} {value:.3f}" for name, value in _measures(record).items())
        warnings.append(
            f"case {case_id}: the co-registration of {scan} to the pre-contrast scan failed the quality "
            f"check ({measures}); the prediction is written but flagged, check it"
        )
    for message in warnings:
        logger.warning("%s", message)
    return CaseQuality(case_id, outside, quality, bool(rejected), tuple(warnings))


def _measures(record: dict[str, Any]) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in record.items()
        if name != "accepted" and isinstance(value, int | float) and not isinstance(value, bool)
    }


def write_valid_mask(case_id: str, valid_mask: sitk.Image | None, output_folder: Path) -> Path | None:
    """Write ``CASE_valid_mask.nii.gz`` when some voxel is invalid (else remove a stale one).

    Args:
        case_id: the case.
        valid_mask: uint8 0/1 image on PC's grid, or None (every voxel valid).
        output_folder: the prediction folder.

    Returns:
        The written path, or None when every voxel is valid.
    """
    mask_path = Path(output_folder) / f"{case_id}{VALID_MASK_SUFFIX}"
    if valid_mask is None or sitk.GetArrayViewFromImage(valid_mask).all():
        mask_path.unlink(missing_ok=True)  # a file left by an earlier run of a case now covered everywhere
        return None
    write_image_atomic(valid_mask, mask_path)
    return mask_path
