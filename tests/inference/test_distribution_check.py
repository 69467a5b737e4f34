"""The out-of-distribution check: the rules on known ranges, and a case's brain percentiles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdr_toolkit.inference.distribution_check import RangeRule, brain_percentiles, compare_with_ranges
from gdr_toolkit.model.training_ranges import QuantityRange, TrainingRanges
from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase

RANGES = TrainingRanges(
    {
        "noise_sigma_ld": QuantityRange(0.02, 0.05, 10),
        "field_strength_t": QuantityRange(1.5, 3.0, 10, (1.5, 3.0)),
        "dose_fraction": QuantityRange(0.25, 0.25, 10),
        "low_dose_coverage": QuantityRange(0.9, 1.0, 10),
        "pre_contrast_scale_raw": QuantityRange(500.0, 900.0, 10),
        "brain_volume_ml": QuantityRange(1100.0, 1300.0, 10),
    },
    10,
)


def findings(**quantities: float) -> dict[str, dict]:
    return {
        finding.quantity: finding.to_json_dict()
        for finding in compare_with_ranges(quantities, RANGES, "caseA")
    }


def test_sigma_five_times_below_the_training_range_is_named_with_value_and_range():
    found = findings(noise_sigma_ld=0.004)
    record = found["noise_sigma_ld"]
    assert (record["training_minimum"], record["training_maximum"]) == (0.02, 0.05)
    assert record["allowed_minimum"] == pytest.approx(0.02 / 1.5)
    assert record["rule"] == "ratio 1.5"
    for text in ("caseA", "noise_sigma_ld", "0.004", "0.02", "0.05"):
        assert text in record["message"]
    assert json.dumps(record)


def test_ratio_rule_accepts_sigma_within_a_factor_1_5():
    assert findings(noise_sigma_ld=0.02 / 1.45, brain_volume_ml=1300 * 1.2) == {}
    assert set(findings(noise_sigma_ld=0.05 * 1.55, brain_volume_ml=1100 / 1.3)) == {
        "noise_sigma_ld",
        "brain_volume_ml",
    }


def test_a_field_strength_never_seen_is_a_finding_even_between_seen_ones():
    assert findings(field_strength_t=3.0) == {}
    for unseen in (7.0, 2.0, 0.55):
        record = findings(field_strength_t=unseen)["field_strength_t"]
        assert record["training_values"] == [1.5, 3.0]
        assert f"field_strength_t = {unseen:g} T" in record["message"]


def test_margin_rule_widens_a_one_value_range_by_5_percent():
    assert findings(dose_fraction=0.26) == {}  # within 0.25 +- 0.0125
    assert set(findings(dose_fraction=0.1)) == {"dose_fraction"}
    assert set(findings(dose_fraction=0.27)) == {"dose_fraction"}


def test_lower_rule_judges_only_values_below_and_recorded_ones_are_never_judged():
    assert findings(low_dose_coverage=1.0, pre_contrast_scale_raw=1e6) == {}
    record = findings(low_dose_coverage=0.5)["low_dose_coverage"]
    assert record["allowed_maximum"] is None  # open side: JSON null
    assert record["allowed_minimum"] == pytest.approx(0.9 - 0.05)  # 5 % of 1.0 > 10 % of 0.1


def test_quantities_the_model_has_no_range_for_are_not_judged():
    assert findings(relaxivity=99.0) == {}


def test_margin_rule_interval():
    assert RangeRule("margin").allowed(QuantityRange(1.0, 3.0, 2)) == pytest.approx((0.8, 3.2))


def test_brain_percentiles_of_known_arrays():
    brain = np.zeros((4, 10, 10), np.uint8)
    brain[1:3] = 1  # 200 voxels holding 0..199 / 100
    ramp = np.arange(400, dtype=np.float32).reshape(4, 10, 10) / 100 - 1.0
    case = PreprocessedCase({"brain_mask": brain, "x_pc": ramp, "x_ld": 2 * ramp}, None, {})  # type: ignore[arg-type]
    found = brain_percentiles(case)
    assert found["pre_contrast"]["50"] == pytest.approx(np.percentile(np.arange(200) / 100, 50))
    assert found["low_dose"]["95"] == pytest.approx(2 * np.percentile(np.arange(200) / 100, 95))
    assert set(found["pre_contrast"]) == {"0.5", "50", "99.5"}
