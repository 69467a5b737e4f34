"""The ranges of the training cases' data, stored with the model for the out-of-distribution check.

At training start the trainer describes each of the fold's training cases by the quantities of
:func:`case_quantities` and keeps, per quantity, the smallest and largest value (and, for the field
strength, every value seen). The ranges go into every checkpoint (key ``training_ranges``) and into
``fold_K/training_ranges.json`` (written atomically); ``inference/distribution_check.py`` compares each
predicted case with them (documentation/inference.md, "Out-of-distribution warnings").

The quantities are computed from the same records at training and at prediction time: a preprocessed
case's properties (``CaseProperties``; the training cases' ``CASE.json``, whose sigma_LD is already on
the network grid) and the brain percentiles of the normalised scans x_PC and x_LD on PC's grid. For
training cases those percentiles come from the dataset fingerprint (raw percentiles divided by the raw
95th percentile, LD's times its radiometric scale: exactly x_PC's and x_LD's percentiles); a case that
the fingerprint lacks simply does not contribute to them.

File format (``training_ranges.json``, also the checkpoint's ``training_ranges`` value)::

    {"format_version": 1, "case_count": 12,
     "quantities": {"noise_sigma_ld": {"minimum": 0.021, "maximum": 0.048, "case_count": 12},
                    "field_strength_t": {"minimum": 1.5, "maximum": 3.0, "case_count": 12,
                                         "values": [1.5, 3.0]}, ...}}
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gdr_toolkit.file_io import read_json, write_json_atomic
from gdr_toolkit.fingerprint.extraction import FINGERPRINT_FILE_NAME

logger = logging.getLogger(__name__)

TRAINING_RANGES_FORMAT_VERSION = 1
TRAINING_RANGES_FILE = "training_ranges.json"
CHECKPOINT_KEY = "training_ranges"
CONDITION_QUANTITIES = ("dose_fraction", "field_strength_t", "relaxivity")
DISCRETE_QUANTITIES = frozenset({"field_strength_t"})  # the values seen are stored too
BRAIN_PERCENTILES = {"pre_contrast": ("0.5", "50", "99.5"), "low_dose": ("0.5", "50", "95", "99.5")}
SCAN_PREFIXES = {"pre_contrast": "x_pc", "low_dose": "x_ld"}


def percentile_quantity(scan: str, percentile: str) -> str:
    """``("pre_contrast", "50")`` -> ``"x_pc_brain_percentile_50"``."""
    return f"{SCAN_PREFIXES[scan]}_brain_percentile_{percentile}"


def case_quantities(
    properties: Mapping[str, Any], brain_percentiles: Mapping[str, Mapping[str, float]] | None = None
) -> dict[str, float]:
    """The quantities of one case that the out-of-distribution check compares (absent ones left out).

    Args:
        properties: a preprocessed case's properties as JSON (``CaseProperties.to_json_dict()`` or a
            stored ``CASE.json``), sigma_LD on the network grid.
        brain_percentiles: per scan (``pre_contrast``, ``low_dose``) the percentiles (keys ``"0.5"``,
            ``"50"``, ``"95"``, ``"99.5"``) of the normalised scan inside the brain mask, or None.

    Returns:
        Quantity name -> value: the condition values (dose fraction, field strength in T, relaxivity in
        L/(mmol s)); ``noise_sigma_ld`` (normalised units); ``x_pc_brain_percentile_*`` and
        ``x_ld_brain_percentile_*`` (normalised units); ``pre_contrast_scale_raw`` and
        ``low_dose_scale_raw`` (raw 95th brain percentiles, the scans' own units); ``spacing_min_mm`` and
        ``spacing_max_mm`` (PC's finest and coarsest voxel edge); ``brain_volume_ml``;
        ``low_dose_coverage`` (fraction of the brain inside LD's field of view, 0-1) and
        ``low_dose_registration_similarity`` (Spearman correlation of the registered LD with PC).
    """
    found: dict[str, Any] = {
        name: (properties.get("condition") or {}).get(name) for name in CONDITION_QUANTITIES
    }
    found["noise_sigma_ld"] = properties.get("noise_sigma_ld")
    for scan, percentiles in BRAIN_PERCENTILES.items():
        values = (brain_percentiles or {}).get(scan) or {}
        found |= {percentile_quantity(scan, key): values.get(key) for key in percentiles}
        found[f"{scan}_scale_raw"] = (properties.get("intensity_scales") or {}).get(scan)
    spacing = (properties.get("geometry") or {}).get("spacing_mm")
    if spacing:
        found |= {"spacing_min_mm": min(spacing), "spacing_max_mm": max(spacing)}
    found["brain_volume_ml"] = properties.get("brain_volume_ml")
    found["low_dose_coverage"] = (properties.get("coverage") or {}).get("low_dose")
    registration = (properties.get("registration_quality") or {}).get("low_dose") or {}
    found["low_dose_registration_similarity"] = registration.get("similarity")
    return {
        name: float(value)
        for name, value in found.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    }


def normalised_brain_percentiles(
    raw_percentiles: Mapping[str, Mapping[str, float]], properties: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    """A fingerprint's raw brain percentiles of PC and LD in the normalised units of x_PC and x_LD.

    x_PC = raw_PC / scale_PC and x_LD = raw_LD / scale_LD * a_LD (documentation/method.md section 1, steps
    4-5), so a percentile of x is the raw percentile divided by the scan's 95th percentile
    (``intensity_scales``), for LD times its radiometric scale a_LD (``radiometric_scales``).

    Args:
        raw_percentiles: ``CaseFingerprint.intensity_percentiles`` (per scan, raw units).
        properties: the case's preprocessed properties (scales, radiometric scales).
    """
    scales = properties.get("intensity_scales") or {}
    radiometric = properties.get("radiometric_scales") or {}
    normalised = {}
    for scan in BRAIN_PERCENTILES:
        if scan not in raw_percentiles or not scales.get(scan):
            continue
        factor = float(radiometric.get(scan, 1.0)) / float(scales[scan])
        normalised[scan] = {key: float(value) * factor for key, value in raw_percentiles[scan].items()}
    return normalised


@dataclass(frozen=True)
class QuantityRange:
    """The training cases' range of one quantity.

    Attributes:
        minimum: smallest value over the training cases.
        maximum: largest value.
        case_count: training cases that had the quantity (for a union of folds: the largest fold's count).
        values: the distinct values seen (discrete quantities only: the field strength), sorted.
    """

    minimum: float
    maximum: float
    case_count: int
    values: tuple[float, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"minimum": self.minimum, "maximum": self.maximum}
        record["case_count"] = self.case_count
        if self.values:
            record["values"] = list(self.values)
        return record

    @classmethod
    def from_json_dict(cls, record: Mapping[str, Any]) -> QuantityRange:
        values = tuple(float(value) for value in record.get("values", ()))
        return cls(float(record["minimum"]), float(record["maximum"]), int(record["case_count"]), values)

    def union(self, other: QuantityRange) -> QuantityRange:
        values = tuple(sorted(set(self.values) | set(other.values)))
        count = max(self.case_count, other.case_count)
        return QuantityRange(
            min(self.minimum, other.minimum), max(self.maximum, other.maximum), count, values
        )


@dataclass(frozen=True)
class TrainingRanges:
    """Per quantity of :func:`case_quantities`, the range over a model's training cases.

    Attributes:
        quantities: quantity name -> its range.
        case_count: training cases described (for a union of folds: the largest fold's count).
    """

    quantities: dict[str, QuantityRange] = field(default_factory=dict)
    case_count: int = 0

    @classmethod
    def from_cases(cls, cases: Iterable[Mapping[str, float]]) -> TrainingRanges:
        """The ranges of some cases' :func:`case_quantities`."""
        cases = list(cases)
        collected: dict[str, list[float]] = {}
        for quantities in cases:
            for name, value in quantities.items():
                collected.setdefault(name, []).append(value)
        ranges = {
            name: QuantityRange(
                min(values),
                max(values),
                len(values),
                tuple(sorted(set(values))) if name in DISCRETE_QUANTITIES else (),
            )
            for name, values in sorted(collected.items())
        }
        return cls(ranges, len(cases))

    def union(self, other: TrainingRanges) -> TrainingRanges:
        """The ranges of both (a fold ensemble); a quantity only one of them has keeps its range."""
        merged = dict(self.quantities)
        for name, quantity_range in other.quantities.items():
            merged[name] = merged[name].union(quantity_range) if name in merged else quantity_range
        return TrainingRanges(dict(sorted(merged.items())), max(self.case_count, other.case_count))

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format_version": TRAINING_RANGES_FORMAT_VERSION,
            "case_count": self.case_count,
            "quantities": {name: value.to_json_dict() for name, value in self.quantities.items()},
        }

    @classmethod
    def from_json_dict(cls, record: Mapping[str, Any], source: str = TRAINING_RANGES_FILE) -> TrainingRanges:
        """Inverse of :meth:`to_json_dict`.

        Raises:
            ValueError: another format version or a malformed entry (names ``source``).
        """
        if record.get("format_version") != TRAINING_RANGES_FORMAT_VERSION:
            raise ValueError(
                f"{source}: training ranges of format version {record.get('format_version')!r}, "
                f"expected {TRAINING_RANGES_FORMAT_VERSION}"
            )
        try:
            quantities = {
                str(name): QuantityRange.from_json_dict(value) for name, value in record["quantities"].items()
            }
            return cls(quantities, int(record["case_count"]))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"{source}: malformed training ranges ({error!r})") from error


def fold_training_ranges(
    properties: Mapping[str, Mapping[str, Any]], fingerprint_file: Path | None
) -> TrainingRanges:
    """The training ranges of a fold's cases.

    Args:
        properties: case id -> the preprocessed case's properties (``CASE.json``).
        fingerprint_file: ``dataset_fingerprint.json`` of the dataset (per-case raw brain percentiles),
            or None / a missing file: then the ranges have no intensity percentiles (one info line).
    """
    raw = fingerprint_percentiles(fingerprint_file)
    if not raw:
        logger.info(
            "no dataset fingerprint at %s: training ranges without brain percentiles", fingerprint_file
        )
    cases = [
        case_quantities(record, normalised_brain_percentiles(raw.get(case_id, {}), record))
        for case_id, record in properties.items()
    ]
    return TrainingRanges.from_cases(cases)


def fingerprint_percentiles(path: Path | None) -> dict[str, dict[str, dict[str, float]]]:
    """case id -> the fingerprint's raw ``intensity_percentiles``; empty when ``path`` is None or missing."""
    if path is None or not Path(path).is_file():
        return {}
    record = read_json(path)
    return {
        str(case["case_id"]): case.get("intensity_percentiles") or {}
        for case in record.get("cases", [])
        if isinstance(case, dict) and "case_id" in case
    }


def record_training_ranges(
    properties: Mapping[str, Mapping[str, Any]], preprocessed_dataset_folder: Path, fold_folder: Path | None
) -> TrainingRanges:
    """The fold's training ranges (:func:`fold_training_ranges` with the dataset's fingerprint), written
    to ``fold_folder/training_ranges.json`` unless ``fold_folder`` is None (DDP ranks other than 0)."""
    fingerprint = Path(preprocessed_dataset_folder) / FINGERPRINT_FILE_NAME
    ranges = fold_training_ranges(properties, fingerprint)
    if fold_folder is not None:
        write_training_ranges(ranges, fold_folder)
    return ranges


def write_training_ranges(ranges: TrainingRanges, fold_folder: Path) -> Path:
    """Write ``fold_folder/training_ranges.json`` atomically; returns its path."""
    path = Path(fold_folder) / TRAINING_RANGES_FILE
    write_json_atomic(ranges.to_json_dict(), path)
    return path


def read_training_ranges(checkpoint: Mapping[str, Any], fold_folder: Path) -> TrainingRanges | None:
    """A fold's ranges: the checkpoint's ``training_ranges``, else ``fold_folder/training_ranges.json``,
    else None (a model trained before the ranges were stored)."""
    stored = checkpoint.get(CHECKPOINT_KEY)
    if stored:
        return TrainingRanges.from_json_dict(stored, source=f"{fold_folder} checkpoint")
    path = Path(fold_folder) / TRAINING_RANGES_FILE
    if path.is_file():
        return TrainingRanges.from_json_dict(read_json(path), source=str(path))
    return None
