"""The out-of-distribution check: is a case to predict like the model's training cases?

Each predicted case is described by the quantities of
:func:`~gdr_toolkit.model.training_ranges.case_quantities` (conditions, sigma_LD on the network grid,
brain percentiles of x_PC and x_LD, voxel size, brain volume, LD coverage, registration similarity) and
each is compared with the range the model's training cases spanned (stored with the model,
``model/training_ranges.py``; for a fold ensemble the union of the folds' ranges). A value outside the
range widened by its quantity's rule (:data:`RULES`) is a finding: a warning naming the case, the
quantity, its value and the training range, logged and recorded in ``CASE_summary.json``
(``out_of_distribution``). The prediction is still made; ``gdr_predict --strict`` refuses such cases.

Rules (documentation/inference.md, "Out-of-distribution warnings"):
    margin  [min - w, max + w], w = max(10 % of (max - min), 5 % of max(|min|, |max|)): the floor keeps
            a range of one value (every training case at dose 0.25) from being of zero width;
    ratio   [min / r, max * r] for scale-like quantities (sigma_LD and voxel size r = 1.5, brain volume
            r = 1.25);
    seen    within 0.05 T of a field strength the training cases had (no interpolation between 1.5 T and
            3 T is assumed to be safe: T1 times and relaxivities change with the field);
    lower   only the lower side, margin-widened (LD coverage, registration similarity: a case better
            than every training case is no concern);
    recorded  stored and shown, never warned about (the raw 95th percentiles: step 4 of preprocessing
            divides them out, so the network never sees them).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gdr_toolkit.model.training_ranges import (
    BRAIN_PERCENTILES,
    QuantityRange,
    TrainingRanges,
    case_quantities,
)
from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase

logger = logging.getLogger(__name__)
RuleKind = Literal["margin", "ratio", "seen", "lower", "recorded"]
MARGIN_FRACTION = 0.10
MARGIN_FLOOR_FRACTION = 0.05
FIELD_STRENGTH_TOLERANCE_T = 0.05
SCAN_ARRAYS = {"pre_contrast": "x_pc", "low_dose": "x_ld"}
PERCENTILE_SAMPLES = 250_000  # brain voxels used for the percentiles (every k-th: 1 s -> 0.1 s per case)


@dataclass(frozen=True)
class RangeRule:
    """How far outside the training range a quantity may lie before it is a finding.

    Attributes:
        kind: ``margin``, ``ratio``, ``seen``, ``lower`` or ``recorded`` (module docstring).
        factor: the ratio r of ``ratio`` rules (> 1); unused otherwise.
    """

    kind: RuleKind = "margin"
    factor: float = 1.0

    def allowed(self, quantity_range: QuantityRange) -> tuple[float, float]:
        """The interval a value may lie in (``seen`` and ``recorded``: the plain range)."""
        low, high = quantity_range.minimum, quantity_range.maximum
        if self.kind == "ratio":
            return low / self.factor, high * self.factor
        if self.kind in ("margin", "lower"):
            width = max(MARGIN_FRACTION * (high - low), MARGIN_FLOOR_FRACTION * max(abs(low), abs(high)))
            return low - width, (math.inf if self.kind == "lower" else high + width)
        return low, high

    def accepts(self, value: float, quantity_range: QuantityRange) -> bool:
        """Whether ``value`` is within what the training cases support."""
        if self.kind == "recorded":
            return True
        if self.kind == "seen" and quantity_range.values:
            return any(abs(value - seen) <= FIELD_STRENGTH_TOLERANCE_T for seen in quantity_range.values)
        low, high = self.allowed(quantity_range)
        return low <= value <= high

    def describe(self) -> str:
        return f"ratio {self.factor:g}" if self.kind == "ratio" else self.kind


RULES: dict[str, RangeRule] = {
    "field_strength_t": RangeRule("seen"),
    "noise_sigma_ld": RangeRule("ratio", 1.5),
    "spacing_min_mm": RangeRule("ratio", 1.5),
    "spacing_max_mm": RangeRule("ratio", 1.5),
    "brain_volume_ml": RangeRule("ratio", 1.25),
    "low_dose_coverage": RangeRule("lower"),
    "low_dose_registration_similarity": RangeRule("lower"),
    "pre_contrast_scale_raw": RangeRule("recorded"),
    "low_dose_scale_raw": RangeRule("recorded"),
}  # every other quantity: RangeRule("margin")
UNITS = {
    "field_strength_t": " T",
    "relaxivity": " L/(mmol s)",
    "spacing_min_mm": " mm",
    "spacing_max_mm": " mm",
    "brain_volume_ml": " ml",
}


def rule_for(quantity: str) -> RangeRule:
    return RULES.get(quantity, RangeRule("margin"))


@dataclass(frozen=True)
class OutOfDistribution:
    """One quantity of one case outside its training range.

    Attributes:
        case_id: the case.
        quantity: the quantity's name (``training_ranges.case_quantities``).
        value: the case's value.
        training_range: (minimum, maximum) over the training cases.
        allowed: the interval the rule allows.
        rule: the rule's name (``margin``, ``ratio 1.5``, ``seen``, ``lower``).
        training_values: the values seen in training (``seen`` rules), else empty.
    """

    case_id: str
    quantity: str
    value: float
    training_range: tuple[float, float]
    allowed: tuple[float, float]
    rule: str
    training_values: tuple[float, ...] = ()

    @property
    def message(self) -> str:
        unit = UNITS.get(self.quantity, "")
        low, high = self.training_range
        if self.training_values:
            seen = ", ".join(f"{value:g}" for value in self.training_values)
            where = f"the training cases had only {seen}{unit}"
        else:
            where = f"the training cases span [{low:.4g}, {high:.4g}]{unit}, allowed with the {self.rule} rule up to [{self.allowed[0]:.4g}, {self.allowed[1]:.4g}]"
        return (
            f"case {self.case_id}: out of distribution: {self.quantity} = {self.value:.4g}{unit}, {where}; "
            "the model was not trained on such data, check the prediction"
        )

    def to_json_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"quantity": self.quantity, "value": self.value}
        record |= {"training_minimum": self.training_range[0], "training_maximum": self.training_range[1]}
        record |= {"allowed_minimum": _finite(self.allowed[0]), "allowed_maximum": _finite(self.allowed[1])}
        record |= {"rule": self.rule, "message": self.message}
        if self.training_values:
            record["training_values"] = list(self.training_values)
        return record


def _finite(value: float) -> float | None:
    """JSON has no infinity: an open side is null."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class DistributionCheck:
    """The out-of-distribution check of one case.

    Attributes:
        case_id: the case.
        checked: False when the model stores no training ranges (nothing could be compared).
        quantities: the case's quantities (name -> value).
        findings: the quantities outside their training range, sorted by name.
    """

    case_id: str
    checked: bool
    quantities: dict[str, float]
    findings: tuple[OutOfDistribution, ...] = ()

    def summary_entries(self) -> dict[str, Any]:
        """The keys this check adds to ``CASE_summary.json``."""
        return {
            "out_of_distribution_checked": self.checked,
            "out_of_distribution": [finding.to_json_dict() for finding in self.findings],
            "case_quantities": self.quantities,
        }


def compare_with_ranges(
    quantities: dict[str, float], ranges: TrainingRanges, case_id: str
) -> tuple[OutOfDistribution, ...]:
    """The quantities outside their training range (pure; quantities the ranges lack are not judged)."""
    findings = []
    for name, value in sorted(quantities.items()):
        quantity_range = ranges.quantities.get(name)
        rule = rule_for(name)
        if quantity_range is None or rule.accepts(value, quantity_range):
            continue
        findings.append(
            OutOfDistribution(
                case_id,
                name,
                value,
                (quantity_range.minimum, quantity_range.maximum),
                rule.allowed(quantity_range),
                rule.describe(),
                quantity_range.values if rule.kind == "seen" else (),
            )
        )
    return tuple(findings)


def brain_percentiles(case: PreprocessedCase) -> dict[str, dict[str, float]]:
    """Percentiles of x_PC and x_LD inside the brain mask (PC's grid, normalised units), keys as stored.

    Of at most about :data:`PERCENTILE_SAMPLES` brain voxels (every k-th in memory order): the standard
    error of a percentile of 250,000 samples is far below the margins of the rules.
    """
    brain = np.flatnonzero(np.asarray(case.arrays["brain_mask"]) > 0)
    brain = brain[:: max(1, -(-brain.size // PERCENTILE_SAMPLES))]
    found = {}
    for scan, keys in BRAIN_PERCENTILES.items():
        values = np.asarray(case.arrays[SCAN_ARRAYS[scan]]).ravel()[brain]
        if values.size:
            levels = np.percentile(values, [float(key) for key in keys])
            found[scan] = {key: float(level) for key, level in zip(keys, levels, strict=True)}
    return found


def check_distribution(
    case: PreprocessedCase, ranges: TrainingRanges | None, case_id: str
) -> DistributionCheck:
    """Compare a preprocessed case (sigma_LD on the network grid) with the training ranges; log each finding.

    Args:
        case: the case on PC's grid, after ``on_network_grid_noise``.
        ranges: the model's training ranges, or None (older model: nothing is compared).
        case_id: named in the warnings.
    """
    quantities = case_quantities(case.properties.to_json_dict(), brain_percentiles(case))
    if ranges is None:
        return DistributionCheck(case_id, False, quantities)
    findings = compare_with_ranges(quantities, ranges, case_id)
    for finding in findings:
        logger.warning("%s", finding.message)
    return DistributionCheck(case_id, True, quantities, findings)
